import PreferenceLoss
import PreferenceLossCodec
import Testing

/// The training-health metrics and warnings: each warning's trigger and non-trigger.
@Suite struct DiagnosticsTests {
    /// Per-token sides with the given row lengths, every value `value`.
    private func tokens(_ lengths: [Int], _ value: Double = -0.3) -> SideInput {
        .tokenLogps(RaggedRows(lengths.map { Array(repeating: value, count: $0) }), selection: .all)
    }

    private func codes(_ inputs: LossInputs, _ config: [(key: String, value: ConfigValue)] = []) throws -> [String] {
        try evaluate(inputs, config).warnings.map(\.code)
    }

    private let dpo: [(key: String, value: ConfigValue)] = [("objective", .string("dpo"))]

    private func pairs(
        chosen: [Double], rejected: [Double], referenceChosen: [Double], referenceRejected: [Double]
    ) -> LossInputs {
        LossInputs(
            chosen: .sequenceLogps(chosen), rejected: .sequenceLogps(rejected),
            referenceChosen: .sequenceLogps(referenceChosen), referenceRejected: .sequenceLogps(referenceRejected))
    }

    @Test func tiesTokensAndLengthRatio() throws {
        let result = try evaluate(LossInputs(chosen: tokens([4, 2]), rejected: tokens([2, 2], -1.0)))
        let metrics = result.batchMetrics
        #expect(
            metrics.ties == 0 && metrics.chosenTokens == 3 && metrics.rejectedTokens == 2 && metrics.lengthRatio == 1.5)
        let tied = try evaluate(
            pairs(chosen: [-1, -2], rejected: [-3, -4], referenceChosen: [-1, -3], referenceRejected: [-3, -3]), dpo)
        #expect(tied.batchMetrics.ties == 0.5, "pair 0's rewards are both 0; pair 1's are 0.1 and -0.1")
        let perSequence = try evaluate(LossInputs(chosen: .sequenceLogps([-1]), rejected: tokens([3])))
        #expect(perSequence.batchMetrics.chosenTokens == nil && perSequence.batchMetrics.lengthRatio == nil)
    }

    @Test func noEffect() throws {
        #expect(
            try codes(
                LossInputs(chosen: .sequenceLogps([-1.2]), rejected: .sequenceLogps([-2.5])),
                [("loss_type", .string("hinge")), ("label_smoothing", .number(0.1))]) == ["no_effect"])
        let references = pairs(
            chosen: [-1, -2], rejected: [-3, -4], referenceChosen: [-1.5, -2], referenceRejected: [-3, -3])
        #expect(try codes(references, dpo + [("discopop_tau", .number(0.1))]) == ["no_effect"])
        #expect(
            try codes(references, dpo + [("loss_type", .string("discopop")), ("discopop_tau", .number(0.1))]) == [])
        #expect(try codes(references, dpo + [("f_alpha_divergence_coef", .number(0.3))]) == ["no_effect"])
        #expect(
            try codes(
                references,
                dpo + [("f_divergence_type", .string("alpha_divergence")), ("f_alpha_divergence_coef", .number(0.3))])
                == [])
        let cpo: [(key: String, value: ConfigValue)] = [("objective", .string("cpo")), ("cpo_alpha", .number(0))]
        let policy = LossInputs(chosen: .sequenceLogps([-1]), rejected: .sequenceLogps([-3]))
        #expect(try codes(policy, cpo + [("simpo_gamma", .number(1))]) == ["no_effect"])
        #expect(try codes(policy, cpo) == [])
    }

    @Test func referenceEqualsPolicy() throws {
        #expect(
            try codes(
                pairs(chosen: [-1, -2], rejected: [-3, -4], referenceChosen: [-1, -2], referenceRejected: [-3, -4]), dpo
            ) == ["reference_equals_policy"])
        #expect(
            try codes(
                pairs(
                    chosen: [-1, -2], rejected: [-3, -4], referenceChosen: [-1, -2], referenceRejected: [-3, -4.5]), dpo
            ) == [])
    }

    @Test func bf16Inputs() throws {
        // -0.375 is a bfloat16 (binary 1.1 × 2^-2); -0.3 is not.
        let exact = LossInputs(chosen: tokens([32, 32], -0.375), rejected: tokens([32, 32], -0.5))
        let warning = try #require(try evaluate(exact).warnings.first { $0.code == "bf16_inputs" })
        #expect(warning.message.contains("128 selected log-probs"))
        #expect(
            !(try codes(LossInputs(chosen: tokens([31, 30], -0.375), rejected: tokens([1, 1], -0.5)))).contains(
                "bf16_inputs"), "fewer than 64 tokens")
        #expect(
            try codes(
                LossInputs(chosen: tokens([31, 30], -0.375), rejected: tokens([1, 1], -0.5)),
                [("bf16_min_tokens", .integer(8))]
            ).contains("bf16_inputs"))
        var mixed = [[Double]](repeating: Array(repeating: -0.375, count: 32), count: 2)
        mixed[1][31] = -0.3
        let notAll = LossInputs(
            chosen: .tokenLogps(RaggedRows(mixed), selection: .all), rejected: tokens([32, 32], -0.5))
        #expect(!(try codes(notAll)).contains("bf16_inputs"))
        let masked = LossInputs(
            chosen: .tokenLogps(RaggedRows(mixed), selection: .mask(RaggedRows(mixed.map { $0.map { $0 != -0.3 } }))),
            rejected: tokens([32, 32], -0.5))
        #expect(try codes(masked).contains("bf16_inputs"), "unselected tokens do not count")
    }

    @Test func lengthImbalance() throws {
        #expect(try codes(LossInputs(chosen: tokens([4, 4]), rejected: tokens([2, 2], -1.0))) == ["length_imbalance"])
        #expect(
            try codes(LossInputs(chosen: tokens([2, 2]), rejected: tokens([4, 4], -1.0))).contains("length_imbalance"),
            "either way")
        #expect(try codes(LossInputs(chosen: tokens([4, 3]), rejected: tokens([2, 2], -1.0))) == [], "ratio 1.75 < 2")
        #expect(
            try codes(
                LossInputs(chosen: tokens([4, 4]), rejected: tokens([2, 2], -1.0)),
                [("length_imbalance_ratio", .number(3))]) == [])
    }

    @Test func singleTokenRows() throws {
        #expect(
            try codes(LossInputs(chosen: tokens([1, 3]), rejected: tokens([3, 2], -1.0))) == ["single_token_rows"])
        #expect(try codes(LossInputs(chosen: tokens([2, 3]), rejected: tokens([3, 2], -1.0))) == [])
        #expect(
            try codes(
                LossInputs(chosen: tokens([1, 3]), rejected: tokens([3, 2], -1.0)),
                [("single_token_rows_fraction", .number(0.25))]) == [],
            "1 of 4 rows is not more than a quarter")
    }

    @Test func combinedLossTypesShowTheirParts() throws {
        let inputs = pairs(
            chosen: [-1, -2], rejected: [-3, -4], referenceChosen: [-1.5, -2], referenceRejected: [-3, -3])
        let config =
            dpo + [
                ("loss_type", .array([.string("sigmoid"), .string("hinge"), .string("sigmoid")])),
                ("loss_weights", .array([.number(1), .number(0.5), .number(2)])),
            ]
        let combined = try evaluate(inputs, config)
        #expect(combined.lossesByType.map(\.type) == ["sigmoid", "hinge"], "a repeated type is one part")
        let sigmoid = try evaluate(inputs, dpo).losses
        let hinge = try evaluate(inputs, dpo + [("loss_type", .string("hinge"))]).losses
        expectClose(combined.lossesByType[0].losses, sigmoid, "sigmoid part")
        expectClose(combined.lossesByType[1].losses, hinge, "hinge part")
        expectClose(combined.losses, zip(sigmoid, hinge).map { 3 * $0 + 0.5 * $1 }, "the weighted sum of the parts")
        #expect(
            try evaluate(inputs, dpo + [("loss_type", .array([.string("sigmoid"), .string("sigmoid")]))]).lossesByType
                .isEmpty)
    }

    @Test func thresholdsAreCheckedAtTheirKeys() {
        for (key, value) in [
            ("length_imbalance_ratio", ConfigValue.number(1)), ("single_token_rows_fraction", .number(1)),
            ("bf16_min_tokens", .integer(0)), ("loss_stuck_tolerance", .number(-1)), ("bf16_min_tokens", .number(1.5)),
        ] {
            #expect(
                issues(LossInputs(chosen: .sequenceLogps([-1]), rejected: .sequenceLogps([-2])), [(key, value)]).map(
                    \.location.jsonPointer) == ["/config/\(key)"],
                "\(key) = \(value)")
        }
    }
}

/// The run-level warnings over a window of batches.
@Suite struct TrendTests {
    private func window(
        chosenLogp: (Int) -> Double, margin: (Int) -> Double = { Double($0) },
        rewards: (Int) -> (Double, Double) = { _ in (1, 0) }, loss: (Int) -> Double = { 0.5 - 0.01 * Double($0) }
    ) -> [BatchSummary] {
        (0 ..< 8).map { step in
            BatchSummary(
                loss: loss(step), margin: margin(step), accuracy: 0.5, chosenLogp: chosenLogp(step), rejectedLogp: -5,
                chosenReward: rewards(step).0, rejectedReward: rewards(step).1)
        }
    }

    /// A small deterministic wobble, so that trends are fitted to noisy data.
    private func noise(_ step: Int) -> Double { [0.03, -0.02, 0.01, -0.03, 0.02, 0, -0.01, 0.02][step] }

    private func codes(_ window: [BatchSummary]) -> [String] {
        trendWarnings(window, thresholds: DiagnosticThresholds()).map(\.code)
    }

    @Test func chosenLogpsFalling() {
        #expect(codes(window(chosenLogp: { -1 - 0.1 * Double($0) + noise($0) })) == ["chosen_logps_falling"])
        #expect(codes(window(chosenLogp: { -1 + 0.1 * Double($0) + noise($0) })) == [], "rising")
        #expect(
            codes(window(chosenLogp: { -1 - 0.1 * Double($0) }, margin: { -Double($0) })) == [], "the margin falls too")
        #expect(codes(window(chosenLogp: { -1 + 3 * noise($0) })) == [], "noise around a level")
    }

    @Test func rewardsCollapse() {
        #expect(
            codes(window(chosenLogp: { _ in -1 }, rewards: { (-0.1 * Double($0) + noise($0), -0.3 * Double($0)) })) == [
                "rewards_collapse"
            ])
        #expect(
            codes(window(chosenLogp: { _ in -1 }, rewards: { (0.1 * Double($0), -0.3 * Double($0)) })) == [],
            "chosen rewards rise")
    }

    @Test func lossStuck() {
        #expect(codes(window(chosenLogp: { _ in -1 }, loss: { _ in 0.6931471805599453 })) == ["loss_stuck"])
        #expect(
            codes(window(chosenLogp: { _ in -1 }, loss: { 0.69 + 2e-9 * Double($0) })) == [], "moves by more than 1e-9")
        var loose = DiagnosticThresholds()
        loose.lossStuckTolerance = 1e-6
        let moving = window(chosenLogp: { _ in -1 }, loss: { 0.69 + 2e-9 * Double($0) })
        #expect(trendWarnings(moving, thresholds: loose).map(\.code) == ["loss_stuck"])
    }

    @Test func shortWindowsGiveNone() {
        #expect(codes(Array(window(chosenLogp: { -Double($0) }, loss: { _ in 1 }).prefix(2))) == [])
    }
}

/// What the review of the diagnostics found, kept fixed.
@Suite struct DiagnosticsEdgeTests {
    @Test func aPartWhoseMeanOverflowsIsRefused() {
        let inputs = LossInputs(
            chosen: .tokenLogps(RaggedRows([[0.0], [0.0]]), selection: .all),
            rejected: .tokenLogps(RaggedRows([[0.0], [0.0]]), selection: .all),
            referenceChosen: .sequenceLogps([-1e154, -1e154]), referenceRejected: .sequenceLogps([0, 0]))
        let config: [(key: String, value: ConfigValue)] = [
            ("objective", .string("dpo")), ("beta", .number(1e-3)),
            ("loss_type", .array([.string("ipo"), .string("sigmoid")])),
            ("loss_weights", .array([.number(1e-3), .number(1)])),
        ]
        #expect(issues(inputs, config).map(\.location.jsonPointer) == ["/chosen/per_token_logps"])
    }

    @Test func aMarginWhoseOtherFormOverflowsIsRefusedAtTheGivenKey() {
        let inputs = LossInputs(chosen: .sequenceLogps([0]), rejected: .sequenceLogps([-1]))
        #expect(
            issues(inputs, [("gamma_beta_ratio", .number(1e308)), ("beta", .number(10))]).map(\.location.jsonPointer)
                == ["/config/gamma_beta_ratio"])
        #expect(
            issues(inputs, [("gamma", .number(1e308)), ("beta", .number(1e-10))]).map(\.location.jsonPointer) == [
                "/config/gamma"
            ])
    }
}
