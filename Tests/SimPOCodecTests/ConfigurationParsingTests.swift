import PreferenceLoss
import Testing

@Suite struct ConfigurationParsingTests {
    private func parseIssues(_ entries: [(key: String, value: ConfigValue)]) -> [LossInputIssue] {
        do {
            _ = try LossConfiguration(parsing: entries)
            return []
        } catch {
            return error.issues
        }
    }

    @Test func simpoDefaultsArePrincetonSimPOs() throws {
        let config = try LossConfiguration(parsing: [])
        #expect(config.objective == .simpo && config.lossType == .sigmoid)
        #expect(config.beta == 2.0 && config.gammaBetaRatio == 0.25)
        #expect(config.averageLogProb && config.labelSmoothing == 0 && config.sftWeight == 0)
        #expect(config.sftReduction == .sequence && config.labelPadTokenID == -100)
    }

    @Test func dpoDefaults() throws {
        let config = try LossConfiguration(parsing: [("objective", .string("dpo"))])
        #expect(config.beta == 0.1 && !config.averageLogProb)
    }

    @Test func everyKeyIsParsed() throws {
        let config = try LossConfiguration(parsing: [
            ("loss_type", .string("hinge")), ("beta", .integer(3)), ("gamma", .number(1.5)),
            ("label_smoothing", .number(0.5)), ("sft_weight", .number(0.1)), ("sft_reduction", .string("token")),
            ("average_log_prob", .bool(false)), ("label_pad_token_id", .number(0)),
        ])
        #expect(config.lossType == .hinge && config.beta == 3 && config.margin == .gamma(1.5) && config.gammaBetaRatio == 0.5)
        #expect(config.labelSmoothing == 0.5 && config.sftWeight == 0.1 && config.sftReduction == .token)
        #expect(!config.averageLogProb && config.labelPadTokenID == 0)
    }

    @Test func nullMeansDefault() throws {
        let config = try LossConfiguration(parsing: [("gamma", .null), ("gamma_beta_ratio", .number(0.5)), ("beta", .null)])
        #expect(config.margin == .gammaBetaRatio(0.5) && config.beta == 2)
    }

    @Test(arguments: [
        ("betta", "beta"), ("Beta", "beta"), ("simpo_gamma", "gamma"), ("label_smooth", "label_smoothing"),
        ("losstype", "loss_type"), ("gamma_ratio", "gamma_beta_ratio"),
    ])
    func unknownKeysSuggestTheClosest(_ typo: String, _ suggestion: String) {
        #expect(parseIssues([(typo, .number(1))]) == [LossInputIssue(.unknownKey(suggestion: suggestion), at: FieldPath("config", typo))])
    }

    @Test func unknownKeyWithNothingClose() {
        let found = parseIssues([("learning_rate", .number(1))])
        #expect(found == [LossInputIssue(.unknownKey(suggestion: nil), at: FieldPath("config", "learning_rate"))])
        #expect(found.first?.message == "unknown key")
        #expect(parseIssues([("betta", .number(1))]).first?.message == "unknown key; did you mean 'beta'?")
    }

    @Test func duplicateKeys() {
        #expect(parseIssues([("beta", .number(1)), ("beta", .number(2))]) == [LossInputIssue(.duplicateKey, at: FieldPath("config", "beta"))])
    }

    @Test func wrongTypes() {
        #expect(parseIssues([("beta", .string("2"))]) == [LossInputIssue(.wrongType(expected: "a number"), at: FieldPath("config", "beta"))])
        #expect(parseIssues([("average_log_prob", .integer(1))]) == [LossInputIssue(.wrongType(expected: "a boolean"), at: FieldPath("config", "average_log_prob"))])
        #expect(parseIssues([("label_pad_token_id", .number(1.5))]) == [LossInputIssue(.wrongType(expected: "an integer"), at: FieldPath("config", "label_pad_token_id"))])
        #expect(parseIssues([("loss_type", .array)]) == [LossInputIssue(.wrongType(expected: "a string"), at: FieldPath("config", "loss_type"))])
    }

    @Test func unknownChoices() {
        #expect(parseIssues([("loss_type", .string("ipo"))]) == [LossInputIssue(.invalidChoice(allowed: ["sigmoid", "hinge"]), at: FieldPath("config", "loss_type"))])
        #expect(parseIssues([("objective", .string("orpo"))]).map(\.path.jsonPointer) == ["/config/objective"])
    }

    @Test(arguments: [
        ("beta", 0.0), ("beta", -1.0), ("label_smoothing", 0.6), ("label_smoothing", -0.1),
        ("sft_weight", -0.1), ("gamma_beta_ratio", -1.0), ("gamma", -0.5), ("beta", Double.infinity),
    ])
    func outOfRange(_ key: String, _ value: Double) {
        #expect(parseIssues([(key, .number(value))]).map(\.path.jsonPointer) == ["/config/\(key)"])
    }

    @Test func bothMarginFormsConflict() {
        #expect(parseIssues([("gamma_beta_ratio", .number(0.5)), ("gamma", .number(1))]) == [
            LossInputIssue(.conflicts(with: "gamma_beta_ratio"), at: FieldPath("config", "gamma")),
        ])
    }

    @Test func dpoHasNoMargin() {
        #expect(parseIssues([("objective", .string("dpo")), ("gamma", .number(1))]).map(\.path.jsonPointer) == ["/config/gamma"])
    }

    @Test func everyProblemIsReportedAtOnce() {
        let found = parseIssues([("betta", .number(1)), ("loss_type", .string("x")), ("label_smoothing", .number(2))])
        #expect(found.map(\.path.jsonPointer) == ["/config/betta", "/config/loss_type", "/config/label_smoothing"])
    }
}
