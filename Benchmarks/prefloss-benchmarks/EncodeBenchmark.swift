import FastJSON
import Foundation
import PreferenceLoss
import PreferenceLossCodec

/// Response encoding with token gradients (JSONWriter) against Foundation's
/// JSONEncoder on a Codable mirror of the same numbers, same run; then number
/// formatting alone, against the writer's previous method (Double.description).
func benchmarkEncoding(rows: Int, tokens: Int) throws {
    var generator = SystemRandomNumberGenerator()
    let logps = RaggedRows(
        (0 ..< rows).map { _ in (0 ..< tokens).map { _ in Double(-Float.random(in: 0 ..< 12, using: &generator)) } })
    let inputs = LossInputs(chosen: .tokenLogps(logps, selection: .all), rejected: .tokenLogps(logps, selection: .all))
    let result = try evaluateLoss(inputs, configuration: try LossConfiguration(SimPO()), tokenGradients: true)
    let size = Double(result.jsonBytes(configuration: RequestConfiguration()).count)
    var sink = 0
    measure("encode response with JSONWriter", iterations: 20, units: (size, "B")) {
        sink += result.jsonBytes(configuration: RequestConfiguration()).count
    }
    let mirror = CodableGradients(
        chosen: (0 ..< rows).map { Array(result.gradients.chosenTokenLogps?.row($0) ?? []) },
        rejected: (0 ..< rows).map { Array(result.gradients.rejectedTokenLogps?.row($0) ?? []) })
    try measure("encode response with Foundation JSONEncoder (peer)", iterations: 3, units: (size, "B")) {
        sink += try JSONEncoder().encode(mirror).count
    }
    let gradients = result.gradients.chosenTokenLogps?.values ?? []
    for (numbers, kind) in [
        (gradients, "token gradients (runs of one value)"), (logps.values, "distinct float32 log-probs"),
    ] {
        measure(
            "format \(numbers.count) \(kind) with Double.description (previous)", iterations: 20,
            units: (Double(numbers.count), "numbers")
        ) {
            var bytes: [UInt8] = []
            for number in numbers {
                bytes.append(contentsOf: number.description.utf8)
                bytes.append(UInt8(ascii: ","))
            }
            sink += bytes.count
        }
        measure(
            "format \(numbers.count) \(kind) with JSONWriter", iterations: 20, units: (Double(numbers.count), "numbers")
        ) {
            var writer = JSONWriter()
            writer.value(numbers)
            sink += writer.bytes.count
        }
    }
    if sink < 0 { print(sink) }
}

private struct CodableGradients: Encodable {
    var chosen: [[Double]]
    var rejected: [[Double]]
}
