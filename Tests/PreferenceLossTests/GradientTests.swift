import SeededRandom
import PreferenceLoss
import Testing

/// The analytic gradients against central finite differences of the returned
/// total loss, for every loss type, objective, reduction and SFT reduction.
@Suite struct GradientTests {
    struct Setting: CustomTestStringConvertible, Sendable {
        var lossType: LossType
        var objective: Objective
        var averageLogProb: Bool
        var sftReduction: SFTReduction
        var labelSmoothing: Double

        var configuration: LossConfiguration {
            var config = LossConfiguration(objective: objective)
            config.lossType = lossType
            config.averageLogProb = averageLogProb
            config.sftReduction = sftReduction
            config.labelSmoothing = labelSmoothing
            config.sftWeight = 0.3
            config.beta = objective == .simpo ? 2.0 : 0.5
            return config
        }

        var testDescription: String {
            "\(objective) \(lossType) \(averageLogProb ? "mean" : "sum") sft:\(sftReduction) ε=\(labelSmoothing)"
        }
    }

    static let settings: [Setting] = LossType.allCases.flatMap { lossType in
        Objective.allCases.flatMap { objective in
            [true, false].flatMap { average in
                SFTReduction.allCases.flatMap { sft in
                    [0.0, 0.2].map { Setting(lossType: lossType, objective: objective, averageLogProb: average, sftReduction: sft, labelSmoothing: $0) }
                }
            }
        }
    }

    @Test(arguments: settings)
    func tokenGradientsMatchFiniteDifferences(_ setting: Setting) throws {
        var generator = SplitMix64(state: 42)
        let chosen = randomTokenSide(rows: 4, maxLength: 6, using: &generator)
        let rejected = randomTokenSide(rows: 4, maxLength: 6, using: &generator)
        let references = (0 ..< 4).map { _ in -Double.random(in: 1 ..< 8, using: &generator) }
        let config = setting.configuration

        func loss(_ chosenLogps: [[Double]], _ rejectedLogps: [[Double]]) throws -> LossResult {
            let inputs = LossInputs(
                chosen: .tokenLogps(RaggedRows(chosenLogps), selection: .mask(RaggedRows(chosen.mask))),
                rejected: .tokenLogps(RaggedRows(rejectedLogps), selection: .mask(RaggedRows(rejected.mask))),
                referenceChosen: setting.objective == .dpo ? .sequenceLogps(references) : nil,
                referenceRejected: setting.objective == .dpo ? .sequenceLogps(references.reversed()) : nil)
            return try evaluateLoss(inputs, configuration: config, tokenGradients: true)
        }

        let result = try loss(chosen.logps, rejected.logps)
        let kinks = result.logits.map { abs(1 - config.beta * $0) }
        try #require(setting.lossType == .sigmoid || kinks.allSatisfy { $0 > 1e-3 }, "a pair sits on the hinge's kink")
        let analytic = try [#require(result.gradients.chosenTokenLogps), #require(result.gradients.rejectedTokenLogps)]
        let step = 1e-6
        for (sideIndex, side) in [chosen.logps, rejected.logps].enumerated() {
            for row in side.indices {
                for position in side[row].indices {
                    func moved(_ delta: Double) throws -> Double {
                        var values = side
                        values[row][position] += delta
                        return try (sideIndex == 0 ? loss(values, rejected.logps) : loss(chosen.logps, values)).loss
                    }
                    let numeric = try (moved(step) - moved(-step)) / (2 * step)
                    let exact = analytic[sideIndex].row(row)[analytic[sideIndex].rowOffsets[row] + position]
                    #expect(isClose(exact, numeric, relative: 1e-6, absolute: 1e-8),
                            "side \(sideIndex) row \(row) token \(position): \(exact) vs \(numeric)")
                }
            }
        }
    }

    @Test(arguments: settings.filter { $0.sftReduction == .sequence })
    func sequenceGradientsMatchFiniteDifferences(_ setting: Setting) throws {
        var generator = SplitMix64(state: 7)
        let chosen = (0 ..< 5).map { _ in -Double.random(in: 0.1 ..< 3, using: &generator) }
        let rejected = (0 ..< 5).map { _ in -Double.random(in: 0.1 ..< 3, using: &generator) }
        let config = setting.configuration

        func loss(_ c: [Double], _ r: [Double]) throws -> LossResult {
            let dpo = setting.objective == .dpo
            let inputs = LossInputs(
                chosen: .sequenceLogps(c), rejected: .sequenceLogps(r),
                referenceChosen: dpo ? .sequenceLogps(rejected) : nil,
                referenceRejected: dpo ? .sequenceLogps(chosen) : nil)
            return try evaluateLoss(inputs, configuration: config)
        }

        let result = try loss(chosen, rejected)
        let step = 1e-6
        for i in chosen.indices {
            var up = chosen, down = chosen
            up[i] += step
            down[i] -= step
            let numericChosen = try (loss(up, rejected).loss - loss(down, rejected).loss) / (2 * step)
            #expect(isClose(result.gradients.chosenLogps[i], numericChosen, relative: 1e-6, absolute: 1e-8))
            up = rejected
            down = rejected
            up[i] += step
            down[i] -= step
            let numericRejected = try (loss(chosen, up).loss - loss(chosen, down).loss) / (2 * step)
            #expect(isClose(result.gradients.rejectedLogps[i], numericRejected, relative: 1e-6, absolute: 1e-8))
        }
    }
}
