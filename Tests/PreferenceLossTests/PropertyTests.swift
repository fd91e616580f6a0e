import Foundation
import PreferenceLoss
import PreferenceLossCodec
import Testing

@Suite struct PropertyTests {
    private let chosen: [Double] = [-1.2, -0.4, -2.9, -0.75]
    private let rejected: [Double] = [-2.5, -1.1, -0.3, -0.75]

    @Test func labelSmoothingOneHalfMakesTheSigmoidLossSymmetric() throws {
        let config: [(key: String, value: ConfigValue)] = [
            ("label_smoothing", .number(0.5)), ("gamma_beta_ratio", .number(0)),
        ]
        let forward = try evaluate(
            LossInputs(chosen: .sequenceLogps(chosen), rejected: .sequenceLogps(rejected)), config)
        let swapped = try evaluate(
            LossInputs(chosen: .sequenceLogps(rejected), rejected: .sequenceLogps(chosen)), config)
        expectClose(forward.losses, swapped.losses, "losses under swap")
        // Without smoothing the same swap changes every unequal pair's loss.
        let plain = try evaluate(
            LossInputs(chosen: .sequenceLogps(chosen), rejected: .sequenceLogps(rejected)),
            [("gamma_beta_ratio", .number(0))])
        #expect(plain.losses[0] != forward.losses[0])
    }

    @Test func hingeGradientIsZeroAtTheKinkAsTorchRelu() throws {
        // β = 2, γ/β = 0.25, c − r = 0.75: z = 0.5 and 1 − βz = 0 exactly.
        let config: [(key: String, value: ConfigValue)] = [("loss_type", .string("hinge"))]
        let atKink = try evaluate(LossInputs(chosen: .sequenceLogps([-1.0]), rejected: .sequenceLogps([-1.75])), config)
        #expect(atKink.losses == [0])
        #expect(atKink.gradients.chosenLogps == [0])
        #expect(atKink.gradients.rejectedLogps == [0])
        let inside = try evaluate(LossInputs(chosen: .sequenceLogps([-1.0]), rejected: .sequenceLogps([-1.7])), config)
        #expect(inside.gradients.chosenLogps == [-2])
        #expect(inside.gradients.rejectedLogps == [2])
    }

    @Test(arguments: [1e4, 1e6, 1e100, 1e300])
    func extremeMarginsStayFinite(_ magnitude: Double) throws {
        for smoothing in [0.0, 0.1] {
            let config: [(key: String, value: ConfigValue)] = [
                ("label_smoothing", .number(smoothing)), ("beta", .number(1)), ("gamma_beta_ratio", .number(0)),
            ]
            let result = try evaluate(
                LossInputs(chosen: .sequenceLogps([0, -magnitude]), rejected: .sequenceLogps([-magnitude, 0])), config)
            let everything =
                result.losses + result.gradients.chosenLogps + result.gradients.rejectedLogps + [result.loss]
            #expect(everything.allSatisfy { $0.isFinite })
            // A hugely won pair costs ~ε·margin; a hugely lost one ~(1 − ε)·margin.
            #expect(isClose(result.losses[0], smoothing * magnitude, absolute: 1e-300))
            #expect(isClose(result.losses[1], (1 - smoothing) * magnitude))
            #expect(isClose(result.gradients.chosenLogps[1], -(1 - smoothing) / 2))
        }
    }

    @Test func rewardsNeverIncludeGamma() throws {
        let inputs = LossInputs(chosen: .sequenceLogps(chosen), rejected: .sequenceLogps(rejected))
        let small = try evaluate(inputs, [("gamma_beta_ratio", .number(0.1))])
        let large = try evaluate(inputs, [("gamma_beta_ratio", .number(3))])
        #expect(small.chosenRewards == large.chosenRewards)
        #expect(small.rejectedRewards == large.rejectedRewards)
        #expect(small.chosenRewards == chosen.map { 2 * $0 })
        #expect(small.losses != large.losses)
    }

    @Test func accuracyIsStrict() throws {
        let result = try evaluate(LossInputs(chosen: .sequenceLogps(chosen), rejected: .sequenceLogps(rejected)))
        // Pairs 0 and 1 win, pair 2 loses, pair 3 ties: a tie is not a win.
        #expect(result.metrics.accuracy == 0.5)
    }

    @Test func absoluteGammaEqualsRatioTimesBeta() throws {
        let inputs = LossInputs(chosen: .sequenceLogps(chosen), rejected: .sequenceLogps(rejected))
        let trl = try evaluate(inputs, [("beta", .number(2.5)), ("gamma", .number(1.25))])
        let princeton = try evaluate(inputs, [("beta", .number(2.5)), ("gamma_beta_ratio", .number(0.5))])
        #expect(trl.losses == princeton.losses)
        #expect(trl.gradients.chosenLogps == princeton.gradients.chosenLogps)
    }

    @Test func dpoWithEqualReferencesIsSimPOWithoutMargin() throws {
        let zeros = [Double](repeating: -1, count: chosen.count)
        let dpo = try evaluate(
            LossInputs(
                chosen: .sequenceLogps(chosen), rejected: .sequenceLogps(rejected),
                referenceChosen: .sequenceLogps(zeros), referenceRejected: .sequenceLogps(zeros)),
            [("objective", .string("dpo")), ("beta", .number(2))])
        let simpo = try evaluate(
            LossInputs(chosen: .sequenceLogps(chosen), rejected: .sequenceLogps(rejected)),
            [("gamma_beta_ratio", .number(0))])
        expectClose(dpo.losses, simpo.losses, "losses")
        expectClose(dpo.gradients.chosenLogps, simpo.gradients.chosenLogps, "gradients")
    }

    @Test func labelsSelectExactlyWhatTheEquivalentMaskSelects() throws {
        let logps = RaggedRows([[-1.0, -2.0, -3.0], [-0.5, -0.25]])
        let byMask = try evaluate(
            LossInputs(
                chosen: .tokenLogps(logps, selection: .mask(RaggedRows([[true, false, true], [false, true]]))),
                rejected: .sequenceLogps([-3, -3])),
            tokenGradients: true)
        let byLabels = try evaluate(
            LossInputs(
                chosen: .tokenLogps(logps, selection: .labels(RaggedRows([[5, 0, 9], [0, 4]]), padTokenID: 0)),
                rejected: .sequenceLogps([-3, -3])),
            tokenGradients: true)
        #expect(byMask.chosenLogps == [-2.0, -0.25])
        #expect(byLabels.chosenLogps == byMask.chosenLogps)
        #expect(byLabels.gradients.chosenTokenLogps == byMask.gradients.chosenTokenLogps)
        let grads = try #require(byMask.gradients.chosenTokenLogps)
        #expect(grads.values[1] == 0 && grads.values[3] == 0, "masked tokens get exactly zero")
        #expect(byMask.gradients.rejectedTokenLogps == nil, "per-sequence sides have no token gradients")
    }

    @Test func sumReductionIsMeanTimesCount() throws {
        let logps = RaggedRows([[-1.0, -2.0, -3.5]])
        let inputs = LossInputs(chosen: .tokenLogps(logps, selection: .all), rejected: .sequenceLogps([-9]))
        let mean = try evaluate(inputs)
        let sum = try evaluate(inputs, [("average_log_prob", .bool(false))])
        #expect(mean.chosenLogps == [-6.5 / 3])
        #expect(sum.chosenLogps == [-6.5])
    }

    @Test func warningsFollowTheSeedsDebuggingSection() throws {
        func codes(_ c: [Double], _ r: [Double], _ config: [(key: String, value: ConfigValue)] = []) throws -> [String]
        {
            try evaluate(LossInputs(chosen: .sequenceLogps(c), rejected: .sequenceLogps(r)), config).warnings.map(
                \.code)
        }
        #expect(try codes([-1.2], [-2.5]) == [])
        #expect(try codes([-1.2], [-1.3]) == ["low_reward_margin"])
        #expect(try codes([-1.0], [-4.0]) == ["high_reward_margin"])
        #expect(try codes([-11], [-12]) == ["very_negative_logps"])
        #expect(try codes([0.5], [0.25]) == ["positive_logps"], "margin 2 × 0.25 = 0.5 is not below 0.5")
        #expect(
            try codes([-1.2], [-2.5], [("loss_type", .string("hinge")), ("label_smoothing", .number(0.1))]) == [
                "no_effect"
            ])
    }

    private var references: LossInputs {
        LossInputs(
            chosen: .sequenceLogps(chosen), rejected: .sequenceLogps(rejected),
            referenceChosen: .sequenceLogps([-1, -1, -2, -0.5]), referenceRejected: .sequenceLogps([-2, -0.5, -1, -1]))
    }

    @Test func repeatingALossTypeIsAddingItsWeights() throws {
        let repeated = try evaluate(
            references,
            [
                ("objective", .string("dpo")),
                ("loss_type", .array([.string("aot"), .string("sigmoid"), .string("aot")])),
                ("loss_weights", .array([.number(0.5), .number(1), .number(0.25)])),
            ])
        let combined = try evaluate(
            references,
            [
                ("objective", .string("dpo")), ("loss_type", .array([.string("aot"), .string("sigmoid")])),
                ("loss_weights", .array([.number(0.75), .number(1)])),
            ])
        expectClose(repeated.losses, combined.losses, "losses")
        expectClose(repeated.gradients.chosenLogps, combined.gradients.chosenLogps, "gradients")
    }

    @Test func referenceEqualToPolicyGivesLnTwo() throws {
        let same = LossInputs(
            chosen: .sequenceLogps(chosen), rejected: .sequenceLogps(rejected),
            referenceChosen: .sequenceLogps(chosen), referenceRejected: .sequenceLogps(rejected))
        let result = try evaluate(same, [("objective", .string("dpo"))])
        #expect(isClose(result.loss, log(2.0)))
        #expect(result.metrics.margin == 0 && result.metrics.accuracy == 0, "ties are not correct")
    }

    @Test func alphaPOTendsToCPOAsAlphaVanishes() throws {
        let inputs = LossInputs(chosen: .sequenceLogps(chosen), rejected: .sequenceLogps(rejected))
        let plain = try evaluate(inputs, [("objective", .string("cpo")), ("cpo_alpha", .number(0))])
        for alpha in [1e-320, 1e-12, -1e-12] {
            let shaped = try evaluate(
                inputs, [("objective", .string("cpo")), ("cpo_alpha", .number(0)), ("alpha", .number(alpha))])
            expectClose(shaped.logits, plain.logits, relative: 1e-11, "logits at alpha \(alpha)")
        }
    }

    @Test func alphaDivergenceTendsToReverseKLAsItsCoefficientNearsOne() throws {
        let reverse = try evaluate(references, [("objective", .string("dpo"))])
        let near = try evaluate(
            references,
            [
                ("objective", .string("dpo")), ("f_divergence_type", .string("alpha_divergence")),
                ("f_alpha_divergence_coef", .number(1 + 1e-6)),
            ])
        expectClose(near.losses, reverse.losses, relative: 1e-5, "losses")
    }

    @Test func discopopStaysFiniteWhereItsExponentialOverflows() throws {
        let inputs = LossInputs(
            chosen: .sequenceLogps([-100]), rejected: .sequenceLogps([-1]), referenceChosen: .sequenceLogps([-1.5]),
            referenceRejected: .sequenceLogps([-1.5]))
        let result = try evaluate(
            inputs, [("objective", .string("dpo")), ("loss_type", .string("discopop")), ("beta", .number(10))])
        #expect(isClose(result.loss, -logSigmoid(-990), relative: 1e-9))
    }

    @Test func warningsNameTheirObjective() throws {
        let dpo = try evaluate(references, [("objective", .string("dpo")), ("label_smoothing", .number(0.1))])
        #expect(dpo.warnings.map(\.code) == ["no_effect"])
        #expect(dpo.warnings.allSatisfy { $0.message.hasPrefix("objective 'dpo': ") })
        let exo = try evaluate(
            references,
            [
                ("objective", .string("dpo")), ("loss_type", .array([.string("sigmoid"), .string("exo_pair")])),
                ("label_smoothing", .number(0.1)),
            ])
        #expect(exo.warnings.isEmpty)
        let cpo = try evaluate(
            LossInputs(chosen: .sequenceLogps(chosen), rejected: .sequenceLogps(rejected)),
            [
                ("objective", .string("cpo")), ("loss_type", .string("hinge")), ("cpo_alpha", .number(0)),
                ("label_smoothing", .number(0.1)),
            ])
        #expect(
            cpo.warnings.map(\.message).allSatisfy { $0.hasPrefix("objective 'cpo': ") }
                && cpo.warnings.map(\.code) == ["no_effect"])
    }

    @Test func nllMaskMovesTheNLLNotTheOdds() throws {
        let chosen = SideInput.tokenLogps(
            RaggedRows([[-1.0, -2.0, -0.5]]), selection: .mask(RaggedRows([[false, true, true]])))
        let rejected = SideInput.tokenLogps(RaggedRows([[-2.0, -3.0]]), selection: .all)
        let orpo: [(key: String, value: ConfigValue)] = [("objective", .string("orpo"))]
        let plain = try evaluate(LossInputs(chosen: chosen, rejected: rejected), orpo, tokenGradients: true)
        let wide = try evaluate(
            LossInputs(chosen: chosen, rejected: rejected, chosenNLLMask: RaggedRows([[true, true, true]])), orpo,
            tokenGradients: true)
        #expect(wide.logits == plain.logits && wide.losses == plain.losses)
        #expect(isClose(plain.sftLoss, 1.25) && isClose(wide.sftLoss, 3.5 / 3))
        let grads = try #require(wide.gradients.chosenTokenLogps).values
        #expect(isClose(grads[0], -1.0 / 3), "a prompt token gets the NLL's share only")
    }
}
