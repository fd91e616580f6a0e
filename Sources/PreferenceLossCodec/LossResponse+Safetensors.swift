import FastJSON
import PreferenceLoss
import Safetensors

extension LossResult {
    /// The response as safetensors: each array of the JSON response as a tensor under its
    /// JSON path (`losses`, `grads.chosen_per_token_logps`, ...), and the scalars, metrics
    /// warnings and applied `configuration` as JSON text in `__metadata__`. Combined loss types'
    /// parts are `losses_by_type.<type>`. A float32 answer whose arrays held a result beyond
    /// float32's range adds the warning `float32_overflow`.
    ///
    /// Per-token gradients whose rows all have one length are a [batch, tokens] tensor.
    /// Ragged ones (from JSON requests) are never padded, which would let a small request
    /// ask for a huge answer: they are a 1-D tensor of every row's values in order, plus
    /// `<name>_row_offsets`, an I64 [batch + 1] tensor where row i is
    /// `values[offsets[i] ..< offsets[i + 1]]`.
    public func safetensorsBytes(precision: SafetensorsWriter.Precision, configuration: RequestConfiguration) -> [UInt8]
    {
        safetensorsBytes(precision: precision, configuration: configuration) { () throws(Never) in }
    }

    /// `safetensorsBytes(precision:configuration:)`, calling `checkpoint` between tensors: what it
    /// throws stops the encoding.
    public func safetensorsBytes<Stop: Error>(
        precision: SafetensorsWriter.Precision, configuration: RequestConfiguration, checkpoint: () throws(Stop) -> Void
    ) throws(Stop) -> [UInt8] {
        var writer = SafetensorsWriter(precision: precision)
        for (key, value) in scalarFields {
            writer.addMetadata(key, jsonText { $0.value(value) })
        }
        writer.addMetadata("metrics", jsonText(writeMetrics))
        writer.addMetadata(Self.configField, jsonText(configuration.writeResolved))
        let arrays =
            pairFields
            + lossesByType.map { ("\(Self.lossesByTypeField).\($0.type)", $0.losses) }
            + sequenceGradientFields.map { ("\(Self.gradientsField).\($0.name)", $0.values) }
        for (name, values) in arrays {
            try checkpoint()
            writer.add(name, shape: [values.count], values: values)
        }
        for (key, rows) in tokenGradientFields {
            guard let rows else { continue }
            try checkpoint()
            let name = "\(Self.gradientsField).\(key)"
            let width = rows.rowCount > 0 ? rows.length(ofRow: 0) : 0
            if (0 ..< rows.rowCount).allSatisfy({ rows.length(ofRow: $0) == width }) {
                writer.add(name, shape: [rows.rowCount, width], values: rows.values)
            } else {
                writer.add(name, shape: [rows.values.count], values: rows.values)
                let offsets = rows.rowOffsets.flatMap { withUnsafeBytes(of: Int64($0).littleEndian, Array.init) }
                writer.add("\(name)_row_offsets", dtype: .i64, shape: [rows.rowOffsets.count], bytes: offsets)
            }
        }
        try checkpoint()
        var answer = self
        if writer.roundedToInfinity { answer.warnings.append(.float32Overflow) }
        writer.addMetadata("warnings", jsonText(answer.writeWarnings))
        return writer.bytes()
    }
}

extension LossWarning {
    /// A float32 answer holds ±inf where a result was beyond float32's range.
    static let float32Overflow = LossWarning(
        code: "float32_overflow",
        message:
            "a result is beyond float32's range (about 3.4e38) and is ±inf in this float32 answer; ask for Accept: application/vnd.safetensors;dtype=F64, or JSON, to get it"
    )
}

private func jsonText(_ write: (inout JSONWriter) -> Void) -> String {
    var json = JSONWriter()
    write(&json)
    return String(decoding: json.bytes, as: UTF8.self)
}
