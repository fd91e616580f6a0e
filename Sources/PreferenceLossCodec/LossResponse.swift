import FastJSON
import PreferenceLoss

extension LossResult {
    /// The `POST /v1/loss` response body: every number in shortest round-trip form, with the
    /// `configuration` that was applied.
    public func jsonBytes(configuration: RequestConfiguration) -> [UInt8] {
        jsonBytes(configuration: configuration) { () throws(Never) in }
    }

    /// `jsonBytes(configuration:)`, calling `checkpoint` between arrays and every few thousand
    /// rows: what it throws stops the encoding.
    public func jsonBytes<Stop: Error>(
        configuration: RequestConfiguration, checkpoint: () throws(Stop) -> Void
    ) throws(Stop) -> [UInt8] {
        let tokenCount =
            (gradients.chosenTokenLogps?.values.count ?? 0) + (gradients.rejectedTokenLogps?.values.count ?? 0)
        var writer = JSONWriter(reservingCapacity: 512 + 24 * (10 * losses.count + tokenCount))
        writer.beginObject()
        for (key, value) in scalarFields {
            writer.key(key)
            writer.value(value)
        }
        for (key, values) in pairFields {
            try checkpoint()
            writer.key(key)
            writer.value(values)
        }
        if !lossesByType.isEmpty {
            writer.key(Self.lossesByTypeField)
            writer.beginObject()
            for part in lossesByType {
                try checkpoint()
                writer.key(part.type)
                writer.value(part.losses)
            }
            writer.endObject()
        }
        writer.key(Self.configField)
        configuration.writeResolved(to: &writer)
        writer.key("metrics")
        writeMetrics(to: &writer)
        writer.key(Self.gradientsField)
        writer.beginObject()
        for (key, values) in sequenceGradientFields {
            try checkpoint()
            writer.key(key)
            writer.value(values)
        }
        for (key, rows) in tokenGradientFields {
            guard let rows else { continue }
            writer.key(key)
            writer.beginArray()
            for row in 0 ..< rows.rowCount {
                if row % rowsPerCheckpoint == 0 { try checkpoint() }
                writer.value(rows.row(row))
            }
            writer.endArray()
        }
        writer.endObject()
        writer.key("warnings")
        writeWarnings(to: &writer)
        writer.endObject()
        return writer.bytes
    }

    /// `metrics` as a JSON object, under the names trainers log them by.
    func writeMetrics(to writer: inout JSONWriter) {
        writer.beginObject()
        for (name, value) in namedMetrics {
            writer.key(name)
            writer.value(value)
        }
        writer.endObject()
    }

    /// `warnings` as a JSON array of `{"code", "message"}` objects.
    func writeWarnings(to writer: inout JSONWriter) {
        writer.beginArray()
        for warning in warnings {
            writer.value(["code": warning.code, "message": warning.message])
        }
        writer.endArray()
    }
}
