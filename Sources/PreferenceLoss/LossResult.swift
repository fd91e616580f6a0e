/// Everything a trainer needs from one loss evaluation.
public struct LossResult: Sendable {
    /// The mean total loss: `preferenceLoss + weight × sftLoss`, the weight being SimPO's
    /// (or SimPER's) `sft_weight`, CPO's `cpo_alpha`, 1 for ORPO and 0 for DPO.
    public var loss: Double
    /// The mean of `losses`.
    public var preferenceLoss: Double
    /// The term on the chosen tokens before weighting: SimPO's SFT term (reported even when
    /// `sft_weight` is 0), CPO's and ORPO's NLL; 0 for DPO, whose `sft` is a loss type.
    public var sftLoss: Double
    /// The preference loss of each pair, weighted over loss types (per rank for aot types);
    /// for KTO each completion's weighted loss, chosen rows then rejected rows.
    public var losses: [Double]
    /// Each pair's logit: SimPO's and CPO's z, DPO's Δ = f(u) − f(v), ORPO's log odds ratio;
    /// KTO's z per completion, as `losses` (its loss is w·σ(−βz)); SimPER's e^c − e^r.
    public var logits: [Double]
    public var chosenLogps: [Double]
    public var rejectedLogps: [Double]
    /// β·logps (SimPO, ORPO), β·R(logps) (CPO), β·(logps − reference logps) (DPO, KTO), logps (SimPER);
    /// never including γ.
    public var chosenRewards: [Double]
    public var rejectedRewards: [Double]
    public var metrics: RewardMetrics
    public var batchMetrics: BatchMetrics
    /// For DPO with two or more distinct loss types, each type's part, in listed order; else empty.
    public var lossesByType: [TypeLosses]
    public var gradients: LossGradients
    public var warnings: [LossWarning]
}

/// One loss type's part of a combined loss.
public struct TypeLosses: Sendable {
    /// The loss type's name, as `loss_type` lists it.
    public var type: String
    /// Each pair's loss under this type alone, before its weight (the combined loss is the
    /// weighted sum of these).
    public var losses: [Double]

    /// The mean of `losses`: the type's metric `loss/<type>`.
    public var mean: Double { losses.reduce(0, +) / Double(losses.count) }
}

/// Gradients of the mean total loss.
public struct LossGradients: Sendable {
    /// ∂loss/∂(chosen per-sequence log-prob). A term acting on chosen tokens directly
    /// (an SFT or NLL term over the batch's tokens) is included as its chain-rule share
    /// κ·Nᵢ/Σₜwₜ, where wₜ = ∂cᵢ/∂xₜ: Nᵢ/N of the term under a mean, 1/N under a sum.
    public var chosenLogps: [Double]
    /// ∂loss/∂(rejected per-sequence log-prob).
    public var rejectedLogps: [Double]
    /// ∂loss/∂(chosen per-token log-prob) in the input's row shape, 0 at unselected
    /// tokens; present when asked for and the side came per token.
    public var chosenTokenLogps: RaggedRows<Double>?
    public var rejectedTokenLogps: RaggedRows<Double>?
}

/// The batch means that SimPO and TRL log, under their names; nil where TRL logs none.
public struct RewardMetrics: Equatable, Sendable {
    /// Mean chosen reward; nil for an unpaired batch without chosen (desirable) rows.
    public var chosenReward: Double?
    /// Mean rejected reward; nil for an unpaired batch without rejected (undesirable) rows.
    public var rejectedReward: Double?
    /// Fraction of pairs whose chosen reward is strictly greater than its rejected reward;
    /// nil for unpaired objectives.
    public var accuracy: Double?
    /// Mean of chosen minus rejected reward over pairs; for unpaired objectives the mean chosen
    /// reward minus the mean rejected reward, nil unless both sides have rows.
    public var margin: Double?
    /// Mean chosen log-prob; nil for an unpaired batch without chosen rows.
    public var chosenLogp: Double?
    /// Mean rejected log-prob; nil for an unpaired batch without rejected rows.
    public var rejectedLogp: Double?
    /// KTO's KL reference point as used: clamped at 0, and 0 for a loss type without one.
    public var kl: Double?
    /// CPO's and ORPO's chosen NLL.
    public var nllLoss: Double?
    /// ORPO's mean log σ(log odds).
    public var logOddsRatio: Double?
    /// ORPO's mean log odds.
    public var logOddsChosen: Double?
}

/// What the batch looked like, beyond the metrics trainers log.
public struct BatchMetrics: Equatable, Sendable {
    /// Fraction of pairs whose rewards are exactly equal (which `accuracy` counts as wrong);
    /// nil for unpaired objectives.
    public var ties: Double?
    /// Mean number of selected tokens per chosen row; nil unless both policy sides came per
    /// token and the chosen side has rows.
    public var chosenTokens: Double?
    /// Mean number of selected tokens per rejected row; nil unless both policy sides came per
    /// token and the rejected side has rows.
    public var rejectedTokens: Double?
    /// `chosenTokens` over `rejectedTokens`, where both are known.
    public var lengthRatio: Double?
}

/// Something worth a trainer's attention that is not an error.
public struct LossWarning: Hashable, Sendable {
    /// A stable machine-readable name, e.g. `low_reward_margin`.
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}
