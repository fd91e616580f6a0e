import FastJSON
import PreferenceLoss
import Safetensors

/// Reads the JSON answer back with FastJSON: `loss` and every array in it equal the result's
/// bit for bit (a non-finite number, which JSON cannot hold, as `null`).
func checkJSONAnswer(_ answer: [UInt8], of result: LossResult, parser: JSONParser) {
    let padded = answer + repeatElement(0, count: JSONParser.requiredPadding)
    do {
        try padded.withUnsafeBytes { bytes in
            let document = UnsafeRawBufferPointer(rebasing: bytes[..<answer.count])
            try parser.parse(document, spare: JSONParser.requiredPadding) { root in
                let loss = member(root, ["loss"])
                require(loss.map { carries($0, result.loss) } == true, "JSON loss is \(result.loss)")
                for (path, values) in answerArrays(of: result) {
                    requireCarried(member(root, path), values, at: path)
                }
                for (path, rows) in answerTokenGradients(of: result) {
                    let read = member(root, path)?.elements ?? []
                    require(read.count == rows.rowCount, "JSON \(path) has \(rows.rowCount) rows, not \(read.count)")
                    for (row, readRow) in read.enumerated() {
                        requireCarried(readRow, Array(rows.row(row)), at: path + ["\(row)"])
                    }
                }
            }
        }
    } catch {
        fatalError("the JSON answer does not parse: \(error)")
    }
}

/// Reads the safetensors answer back with the project's reader: exactly the documented tensors,
/// each holding the result's values rounded to `precision`, bit for bit.
func checkSafetensorsAnswer(
    _ answer: [UInt8], precision: SafetensorsWriter.Precision, of result: LossResult, parser: JSONParser
) {
    let dtype: SafetensorsDType = precision == .float32 ? .f32 : .f64
    var expected = answerArrays(of: result).map {
        (name: $0.path.joined(separator: "."), shape: [$0.values.count], values: $0.values)
    }
    var offsets: [(name: String, values: [Int64])] = []
    for (path, rows) in answerTokenGradients(of: result) {
        let name = path.joined(separator: ".")
        let width = rows.rowCount > 0 ? rows.length(ofRow: 0) : 0
        if (0 ..< rows.rowCount).allSatisfy({ rows.length(ofRow: $0) == width }) {
            expected.append((name, [rows.rowCount, width], rows.values))
        } else {
            expected.append((name, [rows.values.count], rows.values))
            offsets.append(("\(name)_row_offsets", rows.rowOffsets.map(Int64.init)))
        }
    }
    answer.withUnsafeBytes { bytes in
        let file: SafetensorsFile
        do {
            file = try SafetensorsFile(parsing: bytes, maximumHeaderSize: bytes.count, parser: parser)
        } catch {
            fatalError("the safetensors answer does not parse: \(error)")
        }
        let names = expected.map(\.name) + offsets.map(\.name)
        let present = file.tensors.map(\.name)
        require(present.sorted() == names.sorted(), "tensors \(present), not \(names)")
        let tensors = Dictionary(file.tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for (name, shape, values) in expected {
            let tensor = tensors[name]
            require(tensor?.dtype == dtype && tensor?.shape == shape, "\(name) is \(dtype.rawValue) \(shape)")
            let read = tensor?.doubles(in: bytes) ?? []
            let rounded = values.map { precision == .float32 ? Double(Float($0)) : $0 }
            let same = read.count == rounded.count && zip(read, rounded).allSatisfy(sameBits)
            require(same, "\(name) holds \(rounded), not \(read)")
        }
        for (name, values) in offsets {
            require(
                tensors[name]?.dtype == .i64 && tensors[name]?.integers(in: bytes) == values, "\(name) holds \(values)")
        }
    }
}

/// The result's arrays under their paths in the answer, spelled out as the API documents them
/// rather than taken from the encoders' own table.
private func answerArrays(of result: LossResult) -> [(path: [String], values: [Double])] {
    let pairs = [
        (["losses"], result.losses), (["logits"], result.logits),
        (["chosen_logps"], result.chosenLogps), (["rejected_logps"], result.rejectedLogps),
        (["chosen_rewards"], result.chosenRewards), (["rejected_rewards"], result.rejectedRewards),
    ]
    let gradients = [
        (["grads", "chosen_logps"], result.gradients.chosenLogps),
        (["grads", "rejected_logps"], result.gradients.rejectedLogps),
    ]
    return pairs + result.lossesByType.map { (["losses_by_type", $0.type], $0.losses) } + gradients
}

/// The per-token gradients the result holds, under their paths in the answer.
private func answerTokenGradients(of result: LossResult) -> [(path: [String], rows: RaggedRows<Double>)] {
    let named = [
        ("chosen_per_token_logps", result.gradients.chosenTokenLogps),
        ("rejected_per_token_logps", result.gradients.rejectedTokenLogps),
    ]
    return named.compactMap { name, rows in rows.map { (["grads", name], $0) } }
}

/// The value at `path` (object keys) under `root`, if there is one.
private func member(_ root: JSONValue, _ path: [String]) -> JSONValue? {
    var value = root
    for key in path {
        guard let next = value.fields.first(where: { $0.key == key })?.value else { return nil }
        value = next
    }
    return value
}

/// Stops unless `array` is a JSON array carrying `values` one for one.
private func requireCarried(_ array: JSONValue?, _ values: [Double], at path: [String]) {
    let read = array?.kind == .array ? array?.elements ?? [] : []
    let same = array?.kind == .array && read.count == values.count && zip(read, values).allSatisfy(carries)
    require(same, "JSON \(path) is \(values)")
}

/// Whether `read` is `value` as JSON carries it: the same bits, or null for a non-finite number.
private func carries(_ read: JSONValue, _ value: Double) -> Bool {
    value.isFinite ? read.double.map { sameBits($0, value) } == true : read.kind == .null
}

/// The same number to the bit (any NaN matching any NaN).
private func sameBits(_ a: Double, _ b: Double) -> Bool {
    a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN)
}
