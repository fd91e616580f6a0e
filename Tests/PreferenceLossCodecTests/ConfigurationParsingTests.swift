import PreferenceLoss
import PreferenceLossCodec
import Testing

@Suite struct ConfigurationParsingTests {
    private func parse(_ entries: [(key: String, value: ConfigValue)]) throws -> RequestConfiguration {
        try RequestConfiguration(parsing: entries)
    }

    private func parseIssues(_ entries: [(key: String, value: ConfigValue)]) -> [RequestIssue] {
        do {
            _ = try RequestConfiguration(parsing: entries)
            return []
        } catch {
            return error.issues
        }
    }

    private func pointers(_ entries: [(key: String, value: ConfigValue)]) -> [String] {
        parseIssues(entries).map(\.location.jsonPointer)
    }

    @Test func simpoDefaultsArePrincetonSimPOs() throws {
        let config = try parse([])
        guard let simpo = config.loss.objective as? SimPO else { Issue.record("not simpo"); return }
        #expect(simpo == SimPO() && config.labelPadTokenID == -100)
        #expect(simpo.lossType == .sigmoid && simpo.beta == 2.0 && simpo.gammaBetaRatio == 0.25)
        #expect(
            simpo.averageLogProb && simpo.labelSmoothing == 0 && simpo.sftWeight == 0 && simpo.sftReduction == .sequence
        )
    }

    @Test func trlDefaults() throws {
        let dpo = try parse([("objective", .string("dpo"))]).loss
        #expect(dpo == (try LossConfiguration(DPO())))
        guard let parameters = dpo.objective as? DPO else { return }
        #expect(parameters.lossTypes == [.sigmoid] && parameters.weights == [1] && parameters.beta == 0.1)
        #expect(
            parameters.discopopTau == 0.05 && parameters.fDivergence == .reverseKL
                && parameters.fAlphaDivergenceCoef == 0.5 && parameters.ldAlpha == nil)
        guard let cpo = try parse([("objective", .string("cpo"))]).loss.objective as? CPO else {
            Issue.record("not cpo"); return
        }
        #expect(
            cpo.lossType == .sigmoid && cpo.beta == 0.1 && cpo.simpoGamma == 0.5 && cpo.cpoAlpha == 1 && cpo.alpha == 0
                && cpo.labelSmoothing == 0)
        #expect(try parse([("objective", .string("orpo"))]).loss == (try LossConfiguration(ORPO())))
    }

    @Test func everySimPOKeyIsParsed() throws {
        let config = try parse([
            ("loss_type", .string("hinge")), ("beta", .integer(3)), ("gamma", .number(1.5)),
            ("label_smoothing", .number(0.5)), ("sft_weight", .number(0.1)), ("sft_reduction", .string("token")),
            ("average_log_prob", .bool(false)), ("label_pad_token_id", .number(0)),
        ])
        guard let simpo = config.loss.objective as? SimPO else { Issue.record("not simpo"); return }
        #expect(
            simpo.lossType == .hinge && simpo.beta == 3 && simpo.margin == .gamma(1.5) && simpo.gammaBetaRatio == 0.5)
        #expect(simpo.labelSmoothing == 0.5 && simpo.sftWeight == 0.1 && simpo.sftReduction == .token)
        #expect(!simpo.averageLogProb && config.labelPadTokenID == 0)
    }

    @Test func everyDPOKeyIsParsed() throws {
        let config = try parse([
            ("objective", .string("dpo")), ("loss_type", .array([.string("robust"), .string("sft")])),
            ("loss_weights", .array([.integer(2), .number(0.5)])),
            ("beta", .number(0.3)), ("label_smoothing", .number(0.1)), ("discopop_tau", .number(0.2)),
            ("f_divergence_type", .string("js_divergence")),
            ("f_alpha_divergence_coef", .number(0.7)), ("ld_alpha", .number(0.5)), ("use_weighting", .bool(false)),
            ("dpop_lambda", .number(7)),
        ])
        guard let dpo = config.loss.objective as? DPO else { Issue.record("not dpo"); return }
        #expect(
            dpo.lossTypes == [.robust, .sft] && dpo.lossWeights == [2, 0.5] && dpo.beta == 0.3
                && dpo.labelSmoothing == 0.1)
        #expect(
            dpo.discopopTau == 0.2 && dpo.fDivergence == .jsDivergence && dpo.fAlphaDivergenceCoef == 0.7
                && dpo.ldAlpha == 0.5 && dpo.dpopLambda == 7)
        guard
            let single = try parse([("objective", .string("dpo")), ("loss_type", .string("aot"))]).loss.objective
                as? DPO
        else { return }
        #expect(single.lossTypes == [.aot])
    }

    @Test func alphapoIsTRLsSugar() throws {
        let config = try parse([
            ("objective", .string("cpo")), ("loss_type", .string("alphapo")), ("cpo_alpha", .number(0.7)),
            ("alpha", .number(0.25)),
        ])
        guard let cpo = config.loss.objective as? CPO else { Issue.record("not cpo"); return }
        #expect(cpo.lossType == .simpo && cpo.cpoAlpha == 0 && cpo.alpha == 0.25)
    }

    @Test func nullMeansDefault() throws {
        guard
            let simpo = try parse([("gamma", .null), ("gamma_beta_ratio", .number(0.5)), ("beta", .null)]).loss
                .objective as? SimPO
        else { return }
        #expect(simpo.margin == .gammaBetaRatio(0.5) && simpo.beta == 2)
        guard
            let dpo = try parse([("objective", .string("dpo")), ("ld_alpha", .null), ("loss_weights", .null)]).loss
                .objective as? DPO
        else { return }
        #expect(dpo.ldAlpha == nil && dpo.lossWeights == nil)
    }

    @Test(arguments: [
        ("betta", "beta"), ("Beta", "beta"), ("label_smooth", "label_smoothing"),
        ("losstype", "loss_type"), ("gamma_ratio", "gamma_beta_ratio"),
    ])
    func unknownKeysSuggestTheClosest(_ typo: String, _ suggestion: String) {
        #expect(
            parseIssues([(typo, .number(1))]) == [
                RequestIssue(.unknownKey(suggestion: suggestion), at: FieldPath("config", typo))
            ])
    }

    @Test func unknownKeyWithNothingClose() {
        let found = parseIssues([("learning_rate", .number(1))])
        #expect(found == [RequestIssue(.unknownKey(suggestion: nil), at: FieldPath("config", "learning_rate"))])
        #expect(found.first?.message == "unknown key")
        #expect(parseIssues([("betta", .number(1))]).first?.message == "unknown key; did you mean 'beta'?")
    }

    @Test func keysOfAnotherObjectiveSayWhose() {
        let found = parseIssues([("simpo_gamma", .number(1))])
        #expect(found.map(\.location.jsonPointer) == ["/config/simpo_gamma"])
        #expect(found.first?.message.contains("objective 'cpo'") == true)
        #expect(pointers([("objective", .string("dpo")), ("gamma", .number(1))]) == ["/config/gamma"])
        #expect(pointers([("objective", .string("orpo")), ("loss_type", .string("sigmoid"))]) == ["/config/loss_type"])
        #expect(
            pointers([("objective", .string("dpo")), ("average_log_prob", .bool(true)), ("sft_weight", .number(0.1))])
                == ["/config/average_log_prob", "/config/sft_weight"])
    }

    @Test func duplicateKeys() {
        #expect(
            parseIssues([("beta", .number(1)), ("beta", .number(2))]) == [
                RequestIssue(.duplicateKey, at: FieldPath("config", "beta"))
            ])
    }

    @Test func wrongTypes() {
        #expect(
            parseIssues([("beta", .string("2"))]) == [
                RequestIssue(.wrongType(expected: "a number"), at: FieldPath("config", "beta"))
            ])
        #expect(
            parseIssues([("average_log_prob", .integer(1))]) == [
                RequestIssue(.wrongType(expected: "a boolean"), at: FieldPath("config", "average_log_prob"))
            ])
        #expect(
            parseIssues([("label_pad_token_id", .number(1.5))]) == [
                RequestIssue(
                    .wrongType(expected: "an integer from -2^63 to 2^63-1"),
                    at: FieldPath("config", "label_pad_token_id"))
            ])
        #expect(
            parseIssues([("loss_type", .array([]))]) == [
                RequestIssue(.wrongType(expected: "a string"), at: FieldPath("config", "loss_type"))
            ])
        #expect(
            pointers([("objective", .string("dpo")), ("loss_type", .array([.string("sigmoid"), .integer(3)]))]) == [
                "/config/loss_type/1"
            ])
        #expect(
            pointers([("objective", .string("dpo")), ("loss_weights", .array([.number(1), .string("x")]))]) == [
                "/config/loss_weights/1"
            ])
        #expect(pointers([("objective", .string("dpo")), ("loss_weights", .number(1))]) == ["/config/loss_weights"])
    }

    @Test func unknownChoices() {
        #expect(
            parseIssues([("loss_type", .string("ipo"))]) == [
                RequestIssue(.invalidChoice(allowed: ["sigmoid", "hinge"]), at: FieldPath("config", "loss_type"))
            ])
        #expect(pointers([("objective", .string("ppo"))]) == ["/config/objective"])
        #expect(
            pointers([("objective", .string("dpo")), ("loss_type", .array([.string("sigmoid"), .string("kto_pair")]))])
                == ["/config/loss_type/1"])
        #expect(
            pointers([("objective", .string("dpo")), ("f_divergence_type", .string("chi2"))]) == [
                "/config/f_divergence_type"
            ])
        #expect(pointers([("objective", .string("cpo")), ("loss_type", .string("dpo"))]) == ["/config/loss_type"])
        #expect(
            parseIssues([("objective", .string("cpo")), ("loss_type", .string("kto_pair"))]).first?.message.contains(
                "KTOTrainer") == true)
    }

    @Test(arguments: [
        ("beta", 0.0), ("beta", -1.0), ("label_smoothing", 0.6), ("label_smoothing", -0.1),
        ("sft_weight", -0.1), ("gamma_beta_ratio", -1.0), ("gamma", -0.5), ("beta", Double.infinity),
    ])
    func outOfRange(_ key: String, _ value: Double) {
        #expect(pointers([(key, .number(value))]) == ["/config/\(key)"])
    }

    /// TRL's own refusals, each at the key TRL names.
    @Test func trlRefusals() {
        let dpo: [(key: String, value: ConfigValue)] = [("objective", .string("dpo"))]
        #expect(
            pointers(
                dpo + [
                    ("loss_type", .array([.string("sigmoid"), .string("sft")])), ("loss_weights", .array([.number(1)])),
                ]) == ["/config/loss_weights"])
        #expect(pointers(dpo + [("loss_weights", .array([.number(0.5), .number(0.5)]))]) == ["/config/loss_weights"])
        #expect(pointers(dpo + [("loss_type", .string("exo_pair"))]) == ["/config/label_smoothing"])
        #expect(
            pointers(dpo + [("loss_type", .string("robust")), ("label_smoothing", .number(0.5))]) == [
                "/config/label_smoothing"
            ])
        #expect(
            pointers(dpo + [("loss_type", .string("bco_pair")), ("f_divergence_type", .string("forward_kl"))]) == [
                "/config/f_divergence_type"
            ])
        #expect(pointers(dpo + [("ld_alpha", .number(1.5))]) == ["/config/ld_alpha"])
        #expect(pointers(dpo + [("use_weighting", .bool(true))]).isEmpty)
        for type in ["hinge", "sft", "aot", "aot_unpaired"] {
            #expect(
                pointers(dpo + [("loss_type", .string(type)), ("use_weighting", .bool(true))]) == [
                    "/config/use_weighting"
                ])
        }
        #expect(pointers(dpo + [("loss_type", .array([]))]) == ["/config/loss_type"])
        #expect(
            pointers(dpo + [("loss_type", .array(Array(repeating: .string("sigmoid"), count: 65)))]) == [
                "/config/loss_type"
            ])
        #expect(pointers([("objective", .string("cpo")), ("cpo_alpha", .number(-1))]) == ["/config/cpo_alpha"])
    }

    @Test func alphapoStillChecksTheTypeOfWhatItOverrides() {
        #expect(
            pointers([("objective", .string("cpo")), ("loss_type", .string("alphapo")), ("cpo_alpha", .string("x"))])
                == ["/config/cpo_alpha"])
    }

    @Test func bothMarginFormsConflict() {
        #expect(
            parseIssues([("gamma_beta_ratio", .number(0.5)), ("gamma", .number(1))]) == [
                RequestIssue(.conflicts(with: "gamma_beta_ratio"), at: FieldPath("config", "gamma"))
            ])
    }

    @Test func everyProblemIsReportedAtOnce() {
        #expect(
            pointers([("betta", .number(1)), ("loss_type", .string("x")), ("label_smoothing", .number(2))]) == [
                "/config/betta", "/config/loss_type", "/config/label_smoothing",
            ])
    }
}
