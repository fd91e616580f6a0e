#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// SimPER (tengxiao1/SimPER, its SimPOTrainer with loss_type `SimPER`): reference-free, with
/// neither β nor a margin. Each pair's loss is `−e^c + e^r` on masked-mean (length-averaged)
/// log-probs, so the inverse perplexities; its logit is `e^c − e^r`; rewards are c and r.
/// The authors' optional SFT term averages the chosen tokens' NLL over the batch.
public struct SimPER: Equatable, Sendable {
    public static let name = "simper"

    /// The authors' SimPOConfig names.
    public enum Parameter: String, CaseIterable, Sendable {
        case sftWeight = "sft_weight"
    }

    /// λ ≥ 0, the weight of the SFT term.
    public var sftWeight = 0.0

    /// The authors' defaults.
    public init() {}

    public func validate(_ issues: inout IssueCollector<InputLocation>) {
        issues.requireNonNegative(sftWeight, Self.location(.sftWeight))
    }
}

extension SimPER: Objective {
    public var usesReferences: Bool { false }
    public var reduction: TokenReduction { .mean }

    /// The authors' SFT term is a cross-entropy over every selected chosen token of the batch.
    public var chosenTokenTerm: PerTokenRequirement? {
        sftWeight > 0
            ? PerTokenRequirement(
                sides: [.chosen], parameter: Parameter.sftWeight.rawValue,
                reason: "sft_weight averages the chosen tokens' NLL, so needs per-token chosen log-probs") : nil
    }

    public func evaluate(_ batch: ReducedBatch) -> ObjectiveOutput {
        let count = Double(batch.size)
        var output = ObjectiveOutput(
            losses: [], logits: [], chosenRewards: batch.chosen.logps, rejectedRewards: batch.rejected.logps,
            chosenGradients: [], rejectedGradients: [])
        for (c, r) in zip(batch.chosen.logps, batch.rejected.logps) {
            let (chosenProbability, rejectedProbability) = (exp(c), exp(r))
            output.losses.append(rejectedProbability - chosenProbability)
            output.logits.append(chosenProbability - rejectedProbability)
            output.chosenGradients.append(-chosenProbability / count)
            output.rejectedGradients.append(rejectedProbability / count)
        }
        if sftWeight > 0 {
            let totals = batch.chosenTokenTotals
            output.sftLoss = -totals.sum / totals.count
            output.sftWeight = sftWeight
            output.chosenTokenCoefficient = -sftWeight / totals.count
        }
        return output
    }

    public func warnings(_ metrics: RewardMetrics) -> [LossWarning] { [] }
}
