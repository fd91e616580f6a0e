import PreferenceLoss
import PreferenceLossCodec
import Testing

/// Every output against values derived independently at 50 digits with mpmath,
/// including the seed's two worked examples (the second recomputed: with β = 2.5
/// the SimPO term is −log σ(2.0) = 0.12693, not the seed's 0.184, so the total
/// is 0.24693, not 0.304).
@Suite struct ReferenceValueTests {
    @Test(arguments: referenceCases)
    func matchesReference(_ reference: ReferenceCase) throws {
        let result = try evaluate(reference.inputs, reference.config, tokenGradients: true)
        #expect(isClose(result.loss, reference.loss), "loss \(result.loss) vs \(reference.loss)")
        #expect(isClose(result.preferenceLoss, reference.preferenceLoss))
        #expect(isClose(result.sftLoss, reference.sftLoss))
        expectClose(result.losses, reference.losses, "losses")
        expectClose(result.logits, reference.logits, "logits")
        expectClose(result.chosenLogps, reference.chosenLogps, "chosen logps")
        expectClose(result.rejectedLogps, reference.rejectedLogps, "rejected logps")
        expectClose(result.chosenRewards, reference.chosenRewards, "chosen rewards")
        expectClose(result.rejectedRewards, reference.rejectedRewards, "rejected rewards")
        expectClose(result.metrics.named.map(\.value), reference.metrics, "metrics")
        if let expected = reference.chosenGradients {
            expectClose(result.gradients.chosenLogps, expected, relative: 1e-10, "chosen gradients")
        }
        if let expected = reference.rejectedGradients {
            expectClose(result.gradients.rejectedLogps, expected, relative: 1e-10, "rejected gradients")
        }
        let tokenPairs = [
            (result.gradients.chosenTokenLogps, reference.chosenTokenGradients, "chosen"),
            (result.gradients.rejectedTokenLogps, reference.rejectedTokenGradients, "rejected"),
        ]
        for (actual, expected, side) in tokenPairs {
            #expect((actual == nil) == (expected == nil), "\(side) token gradients presence")
            if let actual, let expected {
                expectClose(
                    nested(actual).flatMap { $0 }, expected.flatMap { $0 }, relative: 1e-10, "\(side) token gradients")
            }
        }
    }

    @Test func seedExampleOneMatchesTheSeedText() throws {
        let result = try evaluate(
            LossInputs(chosen: .sequenceLogps([-1.2]), rejected: .sequenceLogps([-2.5])),
            [("beta", .number(2.0)), ("gamma_beta_ratio", .number(0.5))])
        #expect(abs(result.loss - 0.184) < 5e-4)
        #expect(abs(result.logits[0] - 0.8) < 1e-12)
    }

    @Test func seedExampleTwoTextIsWrong() throws {
        let result = try evaluate(
            LossInputs(chosen: .sequenceLogps([-1.2]), rejected: .sequenceLogps([-2.5])),
            [("beta", .number(2.5)), ("gamma_beta_ratio", .number(0.5)), ("sft_weight", .number(0.1))])
        #expect(abs(result.loss - 0.304) > 0.05, "the seed's 0.304 reuses β = 2.0's SimPO term")
        #expect(abs(result.loss - 0.24693) < 1e-5)
    }
}
