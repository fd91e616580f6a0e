/// TRL 1.16's ORPOTrainer: `loss = NLL − mean(λ·log σ(log odds))` on masked-mean log-probs,
/// with log odds = (c − r) − (log(1 − e^c) − log(1 − e^r)). Rewards are β·c and β·r.
public struct ORPO: Equatable, Sendable {
    public static let name = "orpo"

    /// TRL's ORPOConfig names.
    public enum Parameter: String, CaseIterable, Sendable {
        case beta
    }

    /// λ, the weight of the odds-ratio term.
    public var beta = 0.1

    /// TRL's ORPOConfig defaults.
    public init() {}

    public func validate(_ issues: inout IssueCollector<InputLocation>) {
        issues.requirePositive(beta, Self.location(.beta))
    }
}

extension ORPO: Objective {
    public var usesReferences: Bool { false }
    public var reduction: TokenReduction { .mean }

    public var chosenTokenTerm: PerTokenRequirement? {
        PerTokenRequirement(
            sides: [.chosen], parameter: nil,
            reason: "objective 'orpo' adds the chosen tokens' NLL, so needs per-token chosen log-probs")
    }

    public func checkDomain(_ batch: ReducedBatch, issues: inout IssueCollector<InputLocation>) {
        for side in [batch.chosen, batch.rejected] {
            for (row, logp) in side.logps.enumerated() where !(logp < 0) {
                issues.add(
                    .outOfRange(allowed: "a sequence log-prob below 0: ORPO's odds take log(1 - e^logp), here \(logp)"),
                    at: .logps(side.side, row: row))
            }
        }
    }

    public func evaluate(_ batch: ReducedBatch) -> ObjectiveOutput {
        let count = Double(batch.size)
        var output = ObjectiveOutput(
            losses: [], logits: [], chosenRewards: [], rejectedRewards: [], chosenGradients: [], rejectedGradients: [])
        var ratios: [Double] = []
        for (c, r) in zip(batch.chosen.logps, batch.rejected.logps) {
            let logOdds = (c - r) - (log1mexp(c) - log1mexp(r))
            let ratio = logSigmoid(logOdds)
            ratios.append(ratio)
            output.losses.append(-beta * ratio)
            output.logits.append(logOdds)
            output.chosenRewards.append(beta * c)
            output.rejectedRewards.append(beta * r)
            // ∂(log odds)/∂c = 1/(1 − e^c), ∂/∂r = −1/(1 − e^r).
            let derivative = -beta * sigmoid(-logOdds) / count
            output.chosenGradients.append(derivative / oneMinusExp(c))
            output.rejectedGradients.append(-derivative / oneMinusExp(r))
        }
        let totals = batch.chosenTokenTotals
        output.sftLoss = -totals.sum / totals.count
        output.sftWeight = 1
        output.chosenTokenCoefficient = -1 / totals.count
        output.nllLoss = output.sftLoss
        output.logOddsRatio = mean(ratios)
        output.logOddsChosen = mean(output.logits)
        return output
    }

    public func warnings(_ metrics: RewardMetrics) -> [LossWarning] { [] }
}
