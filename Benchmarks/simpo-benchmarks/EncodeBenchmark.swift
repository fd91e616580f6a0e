import Foundation
import SimPOLoss
import SimPOServer

/// Response encoding with token gradients (JSONWriter) against Foundation's
/// JSONEncoder on a Codable mirror of the same numbers, same run.
func benchmarkEncoding(rows: Int, tokens: Int) throws {
    var generator = SystemRandomNumberGenerator()
    let logps = RaggedRows((0 ..< rows).map { _ in (0 ..< tokens).map { _ in Double(-Float.random(in: 0 ..< 12, using: &generator)) } })
    let inputs = LossInputs(chosen: .tokenLogps(logps, selection: .all), rejected: .tokenLogps(logps, selection: .all))
    let result = try evaluateLoss(inputs, configuration: LossConfiguration(), tokenGradients: true)
    let size = Double(result.jsonBytes().count)
    var sink = 0
    measure("encode JSONWriter", iterations: 20, units: (size, "B")) {
        sink += result.jsonBytes().count
    }
    let mirror = CodableGradients(
        chosen: (0 ..< rows).map { Array(result.gradients.chosenTokenLogps?.row($0) ?? []) },
        rejected: (0 ..< rows).map { Array(result.gradients.rejectedTokenLogps?.row($0) ?? []) })
    try measure("encode Foundation JSONEncoder (peer)", iterations: 3, units: (size, "B")) {
        sink += try JSONEncoder().encode(mirror).count
    }
    if sink < 0 { print(sink) }
}

private struct CodableGradients: Encodable {
    var chosen: [[Double]]
    var rejected: [[Double]]
}
