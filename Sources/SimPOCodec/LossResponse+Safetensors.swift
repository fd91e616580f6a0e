import FastJSON
import Safetensors
import SimPOLoss

extension LossResult {
    /// The response as safetensors: each array of the JSON response as a tensor under its
    /// JSON path (`losses`, `grads.chosen_per_token_logps`, ...), and the scalars, metrics
    /// and warnings as JSON text in `__metadata__`. Ragged per-token gradients are padded
    /// with 0 to the longest row.
    public func safetensorsBytes(precision: SafetensorsWriter.Precision) -> [UInt8] {
        var writer = SafetensorsWriter(precision: precision)
        for (key, value) in [("loss", loss), ("preference_loss", preferenceLoss), ("sft_loss", sftLoss)] {
            writer.addMetadata(key, jsonText { $0.value(value) })
        }
        writer.addMetadata("metrics", jsonText(writeMetrics))
        writer.addMetadata("warnings", jsonText(writeWarnings))
        let arrays = [
            ("losses", losses), ("logits", logits), ("chosen_logps", chosenLogps), ("rejected_logps", rejectedLogps),
            ("chosen_rewards", chosenRewards), ("rejected_rewards", rejectedRewards),
            ("grads.chosen_logps", gradients.chosenLogps), ("grads.rejected_logps", gradients.rejectedLogps),
        ]
        for (name, values) in arrays {
            writer.add(name, shape: [values.count], values: values)
        }
        for (name, rows) in [("grads.chosen_per_token_logps", gradients.chosenTokenLogps), ("grads.rejected_per_token_logps", gradients.rejectedTokenLogps)] {
            guard let rows else { continue }
            let width = (0 ..< rows.rowCount).map(rows.length(ofRow:)).max() ?? 0
            if rows.values.count == rows.rowCount * width {
                writer.add(name, shape: [rows.rowCount, width], values: rows.values)
            } else {
                var padded = [Double](repeating: 0, count: rows.rowCount * width)
                for row in 0 ..< rows.rowCount {
                    padded.replaceSubrange(row * width ..< row * width + rows.length(ofRow: row), with: rows.row(row))
                }
                writer.add(name, shape: [rows.rowCount, width], values: padded)
            }
        }
        return writer.bytes()
    }
}

private func jsonText(_ write: (inout JSONWriter) -> Void) -> String {
    var json = JSONWriter()
    write(&json)
    return String(decoding: json.bytes, as: UTF8.self)
}
