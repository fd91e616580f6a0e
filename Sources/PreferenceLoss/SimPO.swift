/// SimPO's pair loss.
public enum SimPOLossType: String, CaseIterable, Sendable {
    /// `−log σ(βz)(1 − ε) − log σ(−βz)ε`, the default.
    case sigmoid
    /// `relu(1 − βz)`.
    case hinge
}

/// How SimPO's SFT term averages the chosen negative log-likelihood.
public enum SFTReduction: String, CaseIterable, Sendable {
    /// The seed's `mean(−chosen_logps)` over sequences.
    case sequence
    /// princeton-nlp/SimPO's and TRL's cross-entropy: minus the mean over every selected
    /// chosen token in the batch.
    case token
}

/// SimPO's target reward margin, in one of its two published forms.
public enum TargetMargin: Equatable, Sendable {
    /// princeton-nlp/SimPO's `gamma_beta_ratio` (γ/β).
    case gammaBetaRatio(Double)
    /// TRL's absolute γ; the ratio is `gamma / beta`.
    case gamma(Double)
}

/// princeton-nlp/SimPO: `z = (c − r) − γ/β`, rewards `β·c` and `β·r`, plus `λ·sft`.
public struct SimPO: Equatable, Sendable {
    public static let name = "simpo"

    /// princeton-nlp/SimPO's parameter names, with TRL's `gamma` as the margin's other form.
    public enum Parameter: String, CaseIterable, Sendable {
        case lossType = "loss_type"
        case beta
        case gammaBetaRatio = "gamma_beta_ratio"
        case gamma
        case labelSmoothing = "label_smoothing"
        case sftWeight = "sft_weight"
        case sftReduction = "sft_reduction"
        case averageLogProb = "average_log_prob"
    }

    public var lossType = SimPOLossType.sigmoid
    /// β, the reward scale.
    public var beta = 2.0
    public var margin = TargetMargin.gammaBetaRatio(0.25)
    /// ε in [0, 0.5]; the sigmoid loss only.
    public var labelSmoothing = 0.0
    /// λ ≥ 0, the weight of the SFT term.
    public var sftWeight = 0.0
    public var sftReduction = SFTReduction.sequence
    /// Masked mean (true) or masked sum (false) of per-token log-probs.
    public var averageLogProb = true

    /// princeton-nlp/SimPO's defaults.
    public init() {}

    /// γ/β, whichever form the margin was given in.
    public var gammaBetaRatio: Double {
        switch margin {
        case .gammaBetaRatio(let ratio): return ratio
        case .gamma(let gamma): return gamma / beta
        }
    }

    /// γ, whichever form the margin was given in.
    public var gamma: Double {
        switch margin {
        case .gammaBetaRatio(let ratio): return ratio * beta
        case .gamma(let gamma): return gamma
        }
    }

    public func validate(_ issues: inout IssueCollector<InputLocation>) {
        issues.requirePositive(beta, Self.location(.beta))
        switch margin {
        case .gammaBetaRatio(let ratio): issues.requireNonNegative(ratio, Self.location(.gammaBetaRatio))
        case .gamma(let gamma): issues.requireNonNegative(gamma, Self.location(.gamma))
        }
        if beta > 0, beta.isFinite, !(gamma.isFinite && gammaBetaRatio.isFinite) {
            let given: Parameter = if case .gamma = margin { .gamma } else { .gammaBetaRatio }
            issues.add(
                .outOfRange(allowed: "a margin whose other form (gamma = gamma_beta_ratio × beta) is finite too"),
                at: Self.location(given))
        }
        issues.requireLabelSmoothing(labelSmoothing, Self.location(.labelSmoothing))
        issues.requireNonNegative(sftWeight, Self.location(.sftWeight))
    }
}

extension SimPO: Objective {
    public var usesReferences: Bool { false }
    public var reduction: TokenReduction { averageLogProb ? .mean : .sum }

    public var chosenTokenTerm: PerTokenRequirement? {
        sftReduction == .token
            ? PerTokenRequirement(
                sides: [.chosen], parameter: Parameter.sftReduction.rawValue,
                reason: "sft_reduction 'token' needs per-token chosen log-probs") : nil
    }

    public func evaluate(_ batch: ReducedBatch) -> ObjectiveOutput {
        let count = Double(batch.size)
        var output = ObjectiveOutput(
            losses: [], logits: [], chosenRewards: [], rejectedRewards: [], chosenGradients: [], rejectedGradients: [])
        for (c, r) in zip(batch.chosen.logps, batch.rejected.logps) {
            let z = (c - r) - gammaBetaRatio
            let pair =
                lossType == .sigmoid
                ? smoothedSigmoidLoss(beta * z, labelSmoothing: labelSmoothing) : hingeLoss(beta * z)
            output.losses.append(pair.loss)
            output.logits.append(z)
            output.chosenRewards.append(beta * c)
            output.rejectedRewards.append(beta * r)
            output.chosenGradients.append(beta * pair.derivative / count)
            output.rejectedGradients.append(-beta * pair.derivative / count)
        }
        output.sftWeight = sftWeight
        switch sftReduction {
        case .sequence:
            output.sftLoss = -mean(batch.chosen.logps)
            output.chosenGradients = output.chosenGradients.map { $0 - sftWeight / count }
        case .token:
            let totals = batch.chosenTokenTotals
            output.sftLoss = -totals.sum / totals.count
            output.chosenTokenCoefficient = -sftWeight / totals.count
        }
        return output
    }

    /// The seed's debugging hints; its typical values are those of averaged log-probs.
    public func warnings(_ metrics: RewardMetrics) -> [LossWarning] {
        var warnings: [LossWarning] = []
        // A paired objective has every one of these metrics.
        let margin = metrics.margin ?? 0, chosenLogp = metrics.chosenLogp ?? 0, rejectedLogp = metrics.rejectedLogp ?? 0
        if margin < 0.5 {
            warnings.append(
                warning(
                    "low_reward_margin",
                    "reward margin \(margin) < 0.5: preferences may not be learned; consider a larger beta or gamma_beta_ratio"
                ))
        }
        if margin > 5 {
            warnings.append(
                warning(
                    "high_reward_margin",
                    "reward margin \(margin) > 5.0: may be overfitting; consider a smaller beta or learning rate"
                ))
        }
        if averageLogProb && chosenLogp < -10 && rejectedLogp < -10 {
            warnings.append(
                warning(
                    "very_negative_logps",
                    "mean chosen and rejected log-probs are both below -10: the model may not be learning"))
        }
        if lossType == .hinge && labelSmoothing > 0 {
            warnings.append(
                warning(
                    "no_effect",
                    "label_smoothing applies to the sigmoid loss only; the hinge loss ignores it: drop it or use loss_type 'sigmoid'"
                ))
        }
        return warnings
    }
}
