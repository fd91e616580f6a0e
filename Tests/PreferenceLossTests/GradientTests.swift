import PreferenceLoss
import PreferenceLossCodec
import SeededRandom
import Testing

/// The analytic gradients against central finite differences of the returned total loss,
/// for every objective, loss type, f-divergence, reduction and direct token term.
@Suite struct GradientTests {
    struct Setting: CustomTestStringConvertible, Sendable {
        var name: String
        var config: [(key: String, value: ConfigValue)]
        /// Whether the setting also works on per-sequence sides (no token counts, no token terms).
        var sequenceForm: Bool

        var objective: String { config.first { $0.key == "objective" }?.value.text ?? "simpo" }
        /// WPO (`use_weighting`): the policy sides carry log Σ p².
        var weighting: Bool { config.contains { $0.key == "use_weighting" } }
        var testDescription: String { name }
    }

    static let settings: [Setting] = {
        var settings: [Setting] = []
        for lossType in ["sigmoid", "hinge"] {
            for average in [true, false] {
                for sft in ["sequence", "token"] {
                    for epsilon in [0.0, 0.2] {
                        settings.append(
                            Setting(
                                name: "simpo \(lossType) \(average ? "mean" : "sum") sft:\(sft) ε=\(epsilon)",
                                config: [
                                    ("loss_type", .string(lossType)), ("average_log_prob", .bool(average)),
                                    ("sft_reduction", .string(sft)),
                                    ("label_smoothing", .number(epsilon)), ("sft_weight", .number(0.3)),
                                ],
                                sequenceForm: sft == "sequence"))
                    }
                }
            }
        }
        let dpo: [(String, ConfigValue)] = [
            ("objective", .string("dpo")), ("beta", .number(0.5)), ("label_smoothing", .number(0.2)),
        ]
        for type in DPOLossType.allCases {
            let sequenceForm = ![DPOLossType.ipo, .sigmoidNorm, .sft].contains(type)
            settings.append(
                Setting(
                    name: "dpo \(type.rawValue)", config: dpo + [("loss_type", .string(type.rawValue))],
                    sequenceForm: sequenceForm))
        }
        for divergence in FDivergence.allCases {
            for type in ["sigmoid", "ipo", "discopop"] {
                settings.append(
                    Setting(
                        name: "dpo \(type) \(divergence.rawValue)",
                        config: dpo + [
                            ("loss_type", .string(type)), ("f_divergence_type", .string(divergence.rawValue)),
                            ("f_alpha_divergence_coef", .number(0.3)),
                        ],
                        sequenceForm: type != "ipo"))
            }
        }
        settings.append(
            Setting(
                name: "dpo sigmoid+sft+bco_pair weighted",
                config: dpo + [
                    ("loss_type", .array([.string("sigmoid"), .string("sft"), .string("bco_pair")])),
                    ("loss_weights", .array([.number(1), .number(0.3), .number(0.5)])),
                ],
                sequenceForm: false))
        settings.append(
            Setting(
                name: "dpo sigmoid+dpop weighted, dpop_lambda 2.5",
                config: dpo + [
                    ("loss_type", .array([.string("sigmoid"), .string("dpop")])),
                    ("loss_weights", .array([.number(0.4), .number(1)])), ("dpop_lambda", .number(2.5)),
                ],
                sequenceForm: true))
        // WPO with every loss type TRL can weigh, and with LD-DPO.
        let weighted = DPOLossType.allCases.filter { ![.hinge, .sft, .aot, .aotUnpaired].contains($0) }
        for (type, extra) in weighted.map({ ($0.rawValue, [(String, ConfigValue)]()) }) + [
            ("sigmoid", [("ld_alpha", .number(0.4))]), ("sigmoid", [("f_divergence_type", .string("js_divergence"))]),
        ] {
            settings.append(
                Setting(
                    name: "dpo \(type) use_weighting \(extra.map(\.0))",
                    config: dpo + [("loss_type", .string(type)), ("use_weighting", .bool(true))] + extra,
                    sequenceForm: false))
        }
        for type in ["sigmoid", "ipo"] {
            settings.append(
                Setting(
                    name: "dpo \(type) ld_alpha 0.4",
                    config: dpo + [("loss_type", .string(type)), ("ld_alpha", .number(0.4))], sequenceForm: false))
        }
        for type in CPOLossType.allCases {
            for alpha in [0.0, 0.25] {
                for cpoAlpha in [0.0, 1.0] {
                    settings.append(
                        Setting(
                            name: "cpo \(type.rawValue) alpha=\(alpha) cpo_alpha=\(cpoAlpha)",
                            config: [
                                ("objective", .string("cpo")), ("loss_type", .string(type.rawValue)),
                                ("alpha", .number(alpha)),
                                ("cpo_alpha", .number(cpoAlpha)), ("beta", .number(0.5)),
                                ("label_smoothing", .number(0.1)),
                            ],
                            sequenceForm: cpoAlpha == 0))
                }
            }
        }
        for sftWeight in [0.0, 0.3] {
            settings.append(
                Setting(
                    name: "simper sft_weight=\(sftWeight)",
                    config: [("objective", .string("simper")), ("sft_weight", .number(sftWeight))],
                    sequenceForm: sftWeight == 0))
        }
        settings.append(
            Setting(
                name: "orpo", config: [("objective", .string("orpo")), ("beta", .number(0.3))], sequenceForm: false))
        return settings
    }()

    @Test(arguments: settings)
    func tokenGradientsMatchFiniteDifferences(_ setting: Setting) throws {
        var generator = SplitMix64(state: 42)
        let chosen = randomTokenSide(rows: 4, maxLength: 6, using: &generator)
        let rejected = randomTokenSide(rows: 4, maxLength: 6, using: &generator)
        // Per-token references select what the policy selects, as TRL's shared completion mask does.
        let referenceChosen = (
            logps: chosen.logps.map { $0.map { $0 - Double.random(in: -1 ..< 1, using: &generator) } },
            mask: chosen.mask
        )
        let references = (0 ..< 4).map { _ in -Double.random(in: 1 ..< 8, using: &generator) }
        let dpo = setting.objective == "dpo"
        let configuration = try RequestConfiguration(parsing: setting.config).loss
        // log Σ p² in [2 log p, 0], as a model's (Σ p² ≥ p²).
        let logSumSq = [chosen.logps, rejected.logps].map { side in
            side.map { $0.map { 2 * $0 * Double.random(in: 0 ..< 1, using: &generator) } }
        }

        /// The loss; with WPO, each token's log Σ p² moves with its log-prob, which holds the
        /// weights fixed: they are constants, as in TRL.
        func loss(_ chosenLogps: [[Double]], _ rejectedLogps: [[Double]]) throws -> LossResult {
            func moved(_ side: Int, _ logps: [[Double]]) -> TokenValues? {
                guard setting.weighting else { return nil }
                let base = side == 0 ? chosen.logps : rejected.logps
                return TokenValues(
                    RaggedRows(
                        logps.indices.map { row in
                            logps[row].indices.map { logSumSq[side][row][$0] + logps[row][$0] - base[row][$0] }
                        }))
            }
            var inputs = LossInputs(
                chosen: .tokenLogps(RaggedRows(chosenLogps), selection: .mask(RaggedRows(chosen.mask))),
                rejected: .tokenLogps(RaggedRows(rejectedLogps), selection: .mask(RaggedRows(rejected.mask))),
                referenceChosen: dpo
                    ? .tokenLogps(RaggedRows(referenceChosen.logps), selection: .mask(RaggedRows(referenceChosen.mask)))
                    : nil,
                referenceRejected: dpo ? .sequenceLogps(references) : nil)
            inputs.chosenLogSumSqProbs = moved(0, chosenLogps)
            inputs.rejectedLogSumSqProbs = moved(1, rejectedLogps)
            return try evaluateLoss(inputs, configuration: configuration, tokenGradients: true)
        }

        let result = try loss(chosen.logps, rejected.logps)
        // Rounding in a large loss (forward KL's e^(−u)) limits the difference quotient.
        try expectTokenGradientsMatchDifferences(
            of: loss, at: chosen.logps, rejected.logps, result: result, absolute: 1e-8 * max(1, abs(result.loss)))
    }

    @Test(arguments: settings.filter(\.sequenceForm))
    func sequenceGradientsMatchFiniteDifferences(_ setting: Setting) throws {
        var generator = SplitMix64(state: 7)
        let chosen = (0 ..< 5).map { _ in -Double.random(in: 0.1 ..< 3, using: &generator) }
        let rejected = (0 ..< 5).map { _ in -Double.random(in: 0.1 ..< 3, using: &generator) }
        let configuration = try RequestConfiguration(parsing: setting.config).loss
        let dpo = setting.objective == "dpo"

        func loss(_ c: [Double], _ r: [Double]) throws -> LossResult {
            let inputs = LossInputs(
                chosen: .sequenceLogps(c), rejected: .sequenceLogps(r),
                referenceChosen: dpo ? .sequenceLogps(rejected) : nil,
                referenceRejected: dpo ? .sequenceLogps(chosen) : nil)
            return try evaluateLoss(inputs, configuration: configuration)
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

    /// Chaining the reported sequence gradients through the reduction gives the token gradients
    /// whenever every selected token of a row weighs the same (the direct terms' chain-rule share).
    @Test(arguments: settings.filter { !$0.config.contains { $0.key == "ld_alpha" } && !$0.weighting })
    func sequenceGradientsChainToTokenGradients(_ setting: Setting) throws {
        var generator = SplitMix64(state: 3)
        let chosen = randomTokenSide(rows: 3, maxLength: 5, using: &generator)
        let rejected = randomTokenSide(rows: 3, maxLength: 5, using: &generator)
        let dpo = setting.objective == "dpo"
        let inputs = LossInputs(
            chosen: .tokenLogps(RaggedRows(chosen.logps), selection: .mask(RaggedRows(chosen.mask))),
            rejected: .tokenLogps(RaggedRows(rejected.logps), selection: .mask(RaggedRows(rejected.mask))),
            referenceChosen: dpo ? .sequenceLogps([-3, -4, -5]) : nil,
            referenceRejected: dpo ? .sequenceLogps([-5, -3, -4]) : nil)
        let configuration = try RequestConfiguration(parsing: setting.config).loss
        let result = try evaluateLoss(inputs, configuration: configuration, tokenGradients: true)
        let tokens = try #require(result.gradients.chosenTokenLogps)
        let averaging = configuration.objective.averaging
        #expect(["mean", "sum"].contains(averaging))
        for row in 0 ..< 3 {
            let selected = chosen.mask[row].count { $0 }
            let total = tokens.row(row).reduce(0, +)
            let sequence = result.gradients.chosenLogps[row]
            // Σ_t grad_t = grad_sequence · Σ_t w_t, with Σ w = 1 for a mean and N for a sum.
            let weightSum = averaging == "mean" ? 1 : Double(selected)
            #expect(
                isClose(total, sequence * weightSum, relative: 1e-9, absolute: 1e-300),
                "row \(row) (\(averaging)): \(total) vs \(sequence)")
        }
    }
}

extension ConfigValue {
    var text: String? {
        if case .string(let text) = self { return text }
        return nil
    }
}
