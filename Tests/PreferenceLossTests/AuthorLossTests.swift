import Foundation
import PreferenceLoss
import PreferenceLossCodec
import Testing

/// The losses TRL lacks, beyond their authors' cases: SimPER's keys, and dpo's dpop and its `dpop_lambda`.
@Suite struct AuthorLossTests {
    private let chosen: [Double] = [-1.2, -0.4, -2.9]
    private let rejected: [Double] = [-2.5, -1.1, -0.7]
    private let referenceChosen: [Double] = [-1.0, -0.9, -2.0]
    private let referenceRejected: [Double] = [-2.0, -1.6, -0.4]

    private var pairs: LossInputs {
        LossInputs(chosen: .sequenceLogps(chosen), rejected: .sequenceLogps(rejected))
    }
    private var pairsWithReferences: LossInputs {
        LossInputs(
            chosen: .sequenceLogps(chosen), rejected: .sequenceLogps(rejected),
            referenceChosen: .sequenceLogps(referenceChosen), referenceRejected: .sequenceLogps(referenceRejected))
    }

    private func refused(_ config: [(key: String, value: ConfigValue)]) -> [String] {
        do {
            _ = try RequestConfiguration(parsing: config)
            return []
        } catch {
            return error.issues.map(\.location.jsonPointer)
        }
    }

    @Test func simperIsMinusTheChosenInversePerplexityPlusTheRejected() throws {
        let result = try evaluate(pairs, [("objective", .string("simper"))])
        let expected = zip(chosen, rejected).map { -exp($0) + exp($1) }
        expectClose(result.losses, expected, relative: 1e-15, "losses")
        expectClose(result.logits, expected.map { -$0 }, relative: 1e-15, "logits")
        expectClose(result.chosenRewards, chosen, "rewards are the log-probs themselves")
        #expect(result.sftLoss == 0 && result.loss == result.preferenceLoss)
        let resolved = try RequestConfiguration(parsing: [("objective", .string("simper"))]).resolved
        #expect(resolved.map(\.name).prefix(3) == ["objective", "label_pad_token_id", "sft_weight"])
        #expect(refused([("objective", .string("simper")), ("sft_weight", .number(-0.1))]) == ["/config/sft_weight"])
        #expect(
            refused([("objective", .string("simper")), ("beta", .number(2))]) == ["/config/beta"],
            "SimPER has no beta")
    }

    @Test func simperRefusesReferencesAndItsSFTNeedsChosenTokens() {
        #expect(
            issues(pairsWithReferences, [("objective", .string("simper"))]).map(\.location.jsonPointer) == [
                "/reference_chosen", "/reference_rejected",
            ])
        #expect(
            issues(pairs, [("objective", .string("simper")), ("sft_weight", .number(0.5))]).map(
                \.location.jsonPointer) == ["/config/sft_weight"])
    }

    @Test func dpopPenalisesTheChosenFallingBelowTheReferenceInsideTheSigmoid() throws {
        let beta = 0.5, lambda = 2.5
        let result = try evaluate(
            pairsWithReferences,
            [
                ("objective", .string("dpo")), ("loss_type", .string("dpop")), ("beta", .number(beta)),
                ("dpop_lambda", .number(lambda)),
            ])
        let expected = (0 ..< 3).map { i in
            let delta = (chosen[i] - referenceChosen[i]) - (rejected[i] - referenceRejected[i])
            let x = beta * (delta - lambda * max(0, referenceChosen[i] - chosen[i]))
            return log1p(exp(-x))
        }
        expectClose(result.losses, expected, relative: 1e-14, "losses")
        // Row 1 (−0.4 above −0.9) has no penalty: dpop equals sigmoid there.
        let sigmoid = try evaluate(pairsWithReferences, [("objective", .string("dpo")), ("beta", .number(beta))])
        #expect(result.losses[1] == sigmoid.losses[1] && result.losses[0] > sigmoid.losses[0])
        expectClose(result.chosenRewards, sigmoid.chosenRewards, "dpop's rewards are DPO's")
    }

    @Test func dpopLambdaIsCheckedAndIgnoredElsewhereWithAWarning() throws {
        let dpo: [(key: String, value: ConfigValue)] = [("objective", .string("dpo"))]
        #expect(refused(dpo + [("dpop_lambda", .number(-1))]) == ["/config/dpop_lambda"])
        #expect(
            refused(dpo + [("loss_type", .string("dpop")), ("f_divergence_type", .string("js_divergence"))]) == [
                "/config/f_divergence_type"
            ])
        let ignored = try evaluate(pairsWithReferences, dpo + [("dpop_lambda", .number(3))])
        #expect(ignored.warnings.map(\.code) == ["no_effect"])
        let read = try evaluate(
            pairsWithReferences, dpo + [("loss_type", .string("dpop")), ("dpop_lambda", .number(3))])
        #expect(!read.warnings.map(\.code).contains("no_effect"))
    }
}
