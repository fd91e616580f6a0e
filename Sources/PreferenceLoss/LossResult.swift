/// Everything a trainer needs from one loss evaluation.
public struct LossResult: Sendable {
    /// The mean total loss: `preferenceLoss + sft_weight × sftLoss`.
    public var loss: Double
    /// The mean of `losses`.
    public var preferenceLoss: Double
    /// The SFT term before weighting, reduced as `sft_reduction` says
    /// (reported even when `sft_weight` is 0).
    public var sftLoss: Double
    /// The preference loss of each pair (without the SFT term), as SimPO's `losses`.
    public var losses: [Double]
    /// Each pair's logit: the log-ratio minus γ/β (SimPO) or the reference log-ratio (DPO).
    public var logits: [Double]
    public var chosenLogps: [Double]
    public var rejectedLogps: [Double]
    /// β·logps for SimPO, β·(logps − reference logps) for DPO; never including γ.
    public var chosenRewards: [Double]
    public var rejectedRewards: [Double]
    public var metrics: RewardMetrics
    public var gradients: LossGradients
    public var warnings: [LossWarning]
}

/// Gradients of the mean total loss.
public struct LossGradients: Sendable {
    /// ∂loss/∂(chosen per-sequence log-prob).
    public var chosenLogps: [Double]
    /// ∂loss/∂(rejected per-sequence log-prob).
    public var rejectedLogps: [Double]
    /// ∂loss/∂(chosen per-token log-prob) in the input's row shape, 0 at unselected
    /// tokens; present when asked for and the side came per token.
    public var chosenTokenLogps: RaggedRows<Double>?
    public var rejectedTokenLogps: RaggedRows<Double>?
}

/// The batch means that SimPO and TRL log, under their names.
public struct RewardMetrics: Equatable, Sendable {
    /// Mean chosen reward.
    public var chosenReward: Double
    /// Mean rejected reward.
    public var rejectedReward: Double
    /// Fraction of pairs whose chosen reward is strictly greater than its rejected reward.
    public var accuracy: Double
    /// Mean of chosen minus rejected reward over pairs.
    public var margin: Double
    /// Mean chosen log-prob.
    public var chosenLogp: Double
    /// Mean rejected log-prob.
    public var rejectedLogp: Double

    /// The metrics under the names trainers log them by, in a fixed order.
    public var named: [(name: String, value: Double)] {
        [
            ("rewards/chosen", chosenReward),
            ("rewards/rejected", rejectedReward),
            ("rewards/accuracies", accuracy),
            ("rewards/margins", margin),
            ("logps/chosen", chosenLogp),
            ("logps/rejected", rejectedLogp),
        ]
    }
}

/// Something worth a trainer's attention that is not an error.
public struct LossWarning: Hashable, Sendable {
    /// A stable machine-readable name, e.g. `low_reward_margin`.
    public var code: String
    public var message: String
}
