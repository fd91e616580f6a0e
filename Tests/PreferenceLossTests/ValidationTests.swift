import PreferenceLoss
import PreferenceLossCodec
import Testing

/// Each input error, with the field it names.
@Suite struct ValidationTests {
    private func pointers(_ found: [RequestIssue]) -> [String] { found.map(\.location.jsonPointer) }

    @Test func emptyBatch() {
        let found = issues(LossInputs(chosen: .sequenceLogps([]), rejected: .sequenceLogps([])))
        #expect(found == [RequestIssue(.emptyBatch, at: FieldPath("chosen", "logps"))])
    }

    @Test func batchSizeMismatch() {
        let found = issues(
            LossInputs(
                chosen: .sequenceLogps([-1, -2]),
                rejected: .tokenLogps(RaggedRows([[-1.0], [-2.0], [-3.0]]), selection: .all)))
        #expect(
            found == [
                RequestIssue(.batchSizeMismatch(expected: 2, actual: 3), at: FieldPath("rejected", "per_token_logps"))
            ])
    }

    @Test func emptyRow() {
        let found = issues(
            LossInputs(
                chosen: .tokenLogps(RaggedRows([[-1.0], []]), selection: .all), rejected: .sequenceLogps([-1, -2])))
        #expect(found == [RequestIssue(.emptyRow, at: FieldPath("chosen", "per_token_logps").index(1))])
    }

    @Test func maskRowLengthAndCountMismatches() {
        let logps = RaggedRows([[-1.0, -2.0], [-3.0]])
        let short = issues(
            LossInputs(
                chosen: .tokenLogps(logps, selection: .mask(RaggedRows([[true], [true]]))),
                rejected: .sequenceLogps([-1, -2])))
        #expect(
            short == [
                RequestIssue(.rowLengthMismatch(expected: 2, actual: 1), at: FieldPath("chosen", "mask").index(0))
            ])
        let fewRows = issues(
            LossInputs(
                chosen: .sequenceLogps([-1, -2]),
                rejected: .tokenLogps(logps, selection: .labels(RaggedRows([[1, 2]]), padTokenID: -100))))
        #expect(
            fewRows == [RequestIssue(.rowCountMismatch(expected: 2, actual: 1), at: FieldPath("rejected", "labels"))])
    }

    @Test func rowsThatSelectNoTokenAreRefusedNotNaN() {
        let logps = RaggedRows([[-1.0, -2.0], [-3.0]])
        let masked = issues(
            LossInputs(
                chosen: .tokenLogps(logps, selection: .mask(RaggedRows([[true, true], [false]]))),
                rejected: .sequenceLogps([-1, -2])))
        #expect(masked == [RequestIssue(.noSelectedTokens, at: FieldPath("chosen", "mask").index(1))])
        let padded = issues(
            LossInputs(
                chosen: .tokenLogps(logps, selection: .labels(RaggedRows([[-100, -100], [4]]), padTokenID: -100)),
                rejected: .sequenceLogps([-1, -2])))
        #expect(padded == [RequestIssue(.noSelectedTokens, at: FieldPath("chosen", "labels").index(0))])
        // The same rows under sum reduction are refused too: a 0 from nothing is as wrong as NaN.
        let summed = issues(
            LossInputs(
                chosen: .tokenLogps(logps, selection: .mask(RaggedRows([[false, false], [true]]))),
                rejected: .sequenceLogps([-1, -2])), [("average_log_prob", .bool(false))])
        #expect(pointers(summed) == ["/chosen/mask/0"])
    }

    @Test func nonFiniteValuesAreNamedByPosition() {
        let found = issues(
            LossInputs(
                chosen: .tokenLogps(RaggedRows([[-1.0, -2.0, .infinity], [-1.0]]), selection: .all),
                rejected: .sequenceLogps([-1, .nan])))
        #expect(
            found == [
                RequestIssue(.nonFinite, at: FieldPath("chosen", "per_token_logps").index(0).index(2)),
                RequestIssue(.nonFinite, at: FieldPath("rejected", "logps").index(1)),
            ])
    }

    @Test func overflowingResultsAreRefused() {
        let found = issues(
            LossInputs(chosen: .sequenceLogps([-1, 1.5e308]), rejected: .sequenceLogps([-2, -1.5e308])))
        #expect(found == [RequestIssue(.overflow, at: FieldPath("chosen", "logps").index(1))])
        let summed = issues(
            LossInputs(
                chosen: .tokenLogps(RaggedRows([[-1e308, -1e308]]), selection: .all), rejected: .sequenceLogps([-1])),
            [("average_log_prob", .bool(false))])
        #expect(pointers(summed) == ["/chosen/per_token_logps/0"])
    }

    @Test func referencesMustMatchTheObjective() {
        let plain = LossInputs(chosen: .sequenceLogps([-1]), rejected: .sequenceLogps([-2]))
        #expect(
            pointers(issues(plain, [("objective", .string("dpo"))])) == ["/reference_chosen", "/reference_rejected"])
        var withReferences = plain
        withReferences.referenceChosen = .sequenceLogps([-1])
        #expect(
            issues(withReferences) == [
                RequestIssue(
                    .notApplicable(because: "objective 'simpo' is reference-free"), at: FieldPath("reference_chosen"))
            ])
        withReferences.referenceRejected = .sequenceLogps([-1, -3])
        #expect(pointers(issues(withReferences, [("objective", .string("dpo"))])) == ["/reference_rejected/logps"])
    }

    @Test func tokenSFTNeedsTokens() {
        let found = issues(
            LossInputs(chosen: .sequenceLogps([-1]), rejected: .sequenceLogps([-2])),
            [("sft_reduction", .string("token"))])
        #expect(pointers(found) == ["/config/sft_reduction"])
    }

    @Test func sidesThatMustComePerTokenAreNamedWithTheirCause() {
        let sequences = LossInputs(
            chosen: .sequenceLogps([-1, -2]), rejected: .sequenceLogps([-2, -1]),
            referenceChosen: .sequenceLogps([-1, -1]), referenceRejected: .sequenceLogps([-1, -1]))
        let dpo: [(key: String, value: ConfigValue)] = [("objective", .string("dpo"))]
        #expect(pointers(issues(sequences, dpo + [("loss_type", .string("ipo"))])) == ["/config/loss_type"])
        #expect(
            pointers(issues(sequences, dpo + [("loss_type", .array([.string("sigmoid"), .string("sft")]))])) == [
                "/config/loss_type"
            ])
        #expect(pointers(issues(sequences, dpo + [("ld_alpha", .number(0.5))])) == ["/config/ld_alpha"])
        #expect(pointers(issues(sequences, dpo + [("loss_type", .string("aot"))])) == [], "aot needs no token counts")
        let plain = LossInputs(chosen: .sequenceLogps([-1, -2]), rejected: .sequenceLogps([-2, -1]))
        #expect(pointers(issues(plain, [("objective", .string("cpo"))])) == ["/config/cpo_alpha"])
        #expect(pointers(issues(plain, [("objective", .string("cpo")), ("cpo_alpha", .number(0))])) == [])
        #expect(pointers(issues(plain, [("objective", .string("orpo"))])) == ["/chosen/logps"])
        #expect(
            pointers(issues(sequences, [("objective", .string("cpo")), ("cpo_alpha", .number(0))])) == [
                "/reference_chosen", "/reference_rejected",
            ])
    }

    @Test func overflowingMeansAreRefusedNotNull() {
        let huge = SideInput.sequenceLogps([-1.5e308, -1.5e308])
        let found = issues(
            LossInputs(chosen: huge, rejected: huge, referenceChosen: huge, referenceRejected: huge),
            [("objective", .string("dpo"))])
        #expect(found.map(\.reason) == [.overflow])
    }

    @Test func orpoNamesTheRowOutsideItsDomain() {
        let found = issues(
            LossInputs(
                chosen: .tokenLogps(RaggedRows([[-1.0], [-0.5]]), selection: .all),
                rejected: .tokenLogps(RaggedRows([[-2.0], [0.0]]), selection: .all)),
            [("objective", .string("orpo"))])
        #expect(pointers(found) == ["/rejected/per_token_logps/1"])
    }

    @Test func ldAlphaNeedsReferenceRowsThatSelectLikeThePolicy() {
        let found = issues(
            LossInputs(
                chosen: .tokenLogps(
                    RaggedRows([[-9.0, -9, -1, -2, -3]]),
                    selection: .mask(RaggedRows([[false, false, true, true, true]]))),
                rejected: .tokenLogps(
                    RaggedRows([[-9.0, -9, -1]]), selection: .mask(RaggedRows([[false, false, true]]))),
                referenceChosen: .tokenLogps(RaggedRows([[0.0, 0, -1, -2, -3]]), selection: .all),
                referenceRejected: .tokenLogps(
                    RaggedRows([[0.0, 0, -1]]), selection: .mask(RaggedRows([[false, false, true]])))),
            [("objective", .string("dpo")), ("ld_alpha", .number(0))])
        #expect(pointers(found) == ["/reference_chosen/per_token_logps/0"])
    }

    @Test func nllMaskGoesWithATermOnChosenTokens() {
        let chosen = SideInput.tokenLogps(
            RaggedRows([[-1.0, -2.0], [-3.0]]), selection: .mask(RaggedRows([[false, true], [true]])))
        let rejected = SideInput.sequenceLogps([-2, -2])
        let orpo: [(key: String, value: ConfigValue)] = [("objective", .string("orpo"))]
        #expect(
            issues(
                LossInputs(chosen: chosen, rejected: rejected, chosenNLLMask: RaggedRows([[true, true], [true]])), orpo)
                == [])
        #expect(
            pointers(
                issues(
                    LossInputs(chosen: chosen, rejected: rejected, chosenNLLMask: RaggedRows([[true], [true]])), orpo))
                == ["/chosen/nll_mask/0"])
        #expect(
            pointers(
                issues(
                    LossInputs(
                        chosen: chosen, rejected: rejected, chosenNLLMask: RaggedRows([[false, false], [false]])), orpo)
            ) == ["/chosen/nll_mask"])
        #expect(
            pointers(
                issues(
                    LossInputs(chosen: chosen, rejected: rejected, chosenNLLMask: RaggedRows([[true, true], [true]]))))
                == ["/chosen/nll_mask"],
            "SimPO's sequence SFT has no term on tokens")
    }

    @Test func manyIssuesAreCollectedUpToTheLimit() {
        let bad = [Double](repeating: .nan, count: 100)
        let found = issues(LossInputs(chosen: .sequenceLogps(bad), rejected: .sequenceLogps(bad)))
        #expect(found.count == maximumIssues)
        #expect(found.first?.location.jsonPointer == "/chosen/logps/0")
    }

    @Test func configurationsBuiltInCodeAreValidatedToo() {
        var parameters = SimPO()
        parameters.beta = -1
        parameters.labelSmoothing = 0.7
        #expect(throws: LossInputError.self) { try LossConfiguration(parameters) }
        #expect(throws: Never.self) { try LossConfiguration(SimPO()) }
    }

    @Test func raggedRowsRefuseInconsistentOffsets() {
        #expect(RaggedRows(values: [1.0, 2, 3], rowOffsets: [0, 1, 3]) == RaggedRows([[1.0], [2, 3]]))
        #expect(RaggedRows(values: [1.0, 2, 3], rowOffsets: [0, 1, 2]) == nil, "must end at the value count")
        #expect(RaggedRows(values: [1.0, 2, 3], rowOffsets: [1, 3]) == nil, "must start at 0")
        #expect(RaggedRows(values: [1.0, 2, 3], rowOffsets: [0, 2, 1, 3]) == nil, "must not decrease")
        #expect(RaggedRows<Double>(values: [], rowOffsets: []) == nil, "always at least one offset")
    }

    @Test func jsonPointersEscapeTildeAndSlash() {
        #expect(FieldPath("config", "a/b~c").index(3).jsonPointer == "/config/a~1b~0c/3")
        #expect(FieldPath().jsonPointer == "")
    }
}
