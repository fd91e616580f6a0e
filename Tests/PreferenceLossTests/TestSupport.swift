import PreferenceLoss
import PreferenceLossCodec
import SeededRandom
import Testing

/// One batch with every output computed independently (see Tests/reference).
struct ReferenceCase: CustomTestStringConvertible, Sendable {
    var name: String
    var config: [(key: String, value: ConfigValue)]
    var inputs: LossInputs
    var loss: Double
    var preferenceLoss: Double
    var sftLoss: Double
    var losses: [Double]
    var logits: [Double]
    var chosenLogps: [Double]
    var rejectedLogps: [Double]
    var chosenRewards: [Double]
    var rejectedRewards: [Double]
    /// In `RewardMetrics.named` order.
    var metrics: [Double]
    /// Nil where the reference has no per-sequence form (token-reduced SFT).
    var chosenGradients: [Double]?
    var rejectedGradients: [Double]?
    var chosenTokenGradients: [[Double]]?
    var rejectedTokenGradients: [[Double]]?

    var testDescription: String { name }
}

/// Whether `actual` is within `relative` of `expected`, or within `absolute` of it near zero.
func isClose(_ actual: Double, _ expected: Double, relative: Double = 1e-12, absolute: Double = 1e-15) -> Bool {
    abs(actual - expected) <= max(absolute, relative * abs(expected))
}

/// Expects two arrays to agree element by element.
func expectClose(
    _ actual: [Double], _ expected: [Double], relative: Double = 1e-12, absolute: Double = 1e-15,
    _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.count == expected.count, "\(what): count", sourceLocation: sourceLocation)
    for (index, (a, e)) in zip(actual, expected).enumerated() {
        #expect(
            isClose(a, e, relative: relative, absolute: absolute), "\(what)[\(index)]: \(a) vs \(e)",
            sourceLocation: sourceLocation)
    }
}

/// Expects the per-token gradients in `result` (of `loss` at `chosen`, `rejected`) to match
/// central differences of `loss`'s `loss` token by token, within `relative`, or `absolute` near 0.
func expectTokenGradientsMatchDifferences(
    of loss: ([[Double]], [[Double]]) throws -> LossResult, at chosen: [[Double]], _ rejected: [[Double]],
    result: LossResult, relative: Double = 1e-6, absolute: Double, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let analytic = try [#require(result.gradients.chosenTokenLogps), #require(result.gradients.rejectedTokenLogps)]
    let step = 1e-6
    for (sideIndex, side) in [chosen, rejected].enumerated() {
        for row in side.indices {
            for position in side[row].indices {
                func moved(_ delta: Double) throws -> Double {
                    var values = side
                    values[row][position] += delta
                    return try (sideIndex == 0 ? loss(values, rejected) : loss(chosen, values)).loss
                }
                let numeric = try (moved(step) - moved(-step)) / (2 * step)
                let exact = analytic[sideIndex].row(row)[analytic[sideIndex].rowOffsets[row] + position]
                #expect(
                    isClose(exact, numeric, relative: relative, absolute: absolute),
                    "side \(sideIndex) row \(row) token \(position): \(exact) vs \(numeric)",
                    sourceLocation: sourceLocation)
            }
        }
    }
}

/// The rows of a ragged array as nested arrays.
func nested<T>(_ rows: RaggedRows<T>) -> [[T]] {
    (0 ..< rows.rowCount).map { Array(rows.row($0)) }
}

/// Evaluates with configuration entries, failing the test on a validation error.
func evaluate(
    _ inputs: LossInputs, _ config: [(key: String, value: ConfigValue)] = [], tokenGradients: Bool = false
) throws -> LossResult {
    try LossRequest(
        configuration: RequestConfiguration(parsing: config), inputs: inputs, returnTokenGradients: tokenGradients
    ).evaluate()
}

/// The issues a failing evaluation reports, at the pointers a request would name, or [] when it succeeds.
func issues(_ inputs: LossInputs, _ config: [(key: String, value: ConfigValue)] = []) -> [RequestIssue] {
    do {
        _ = try LossRequest(configuration: RequestConfiguration(parsing: config), inputs: inputs).evaluate()
        return []
    } catch let error as RequestError {
        return error.issues
    } catch {
        Issue.record("unexpected error \(error)")
        return []
    }
}

/// Random per-token rows of lengths 1...maxLength with log-probs in [-4, 0) and a
/// mask that keeps at least one token per row.
func randomTokenSide(
    rows: Int, maxLength: Int, using generator: inout SplitMix64
) -> (logps: [[Double]], mask: [[Bool]]) {
    var logps: [[Double]] = [], mask: [[Bool]] = []
    for _ in 0 ..< rows {
        let length = Int.random(in: 1 ... maxLength, using: &generator)
        logps.append((0 ..< length).map { _ in -Double.random(in: 0.01 ..< 4, using: &generator) })
        var keep = (0 ..< length).map { _ in Bool.random(using: &generator) }
        keep[Int.random(in: 0 ..< length, using: &generator)] = true
        mask.append(keep)
    }
    return (logps, mask)
}
