/// How the preference loss turns a pair's logit into a loss.
public enum LossType: String, CaseIterable, Sendable {
    /// `-logσ(βz)(1-ε) - logσ(-βz)ε`, the default.
    case sigmoid
    /// `relu(1 - βz)`.
    case hinge
}

/// Which preference objective is optimised.
public enum Objective: String, CaseIterable, Sendable {
    /// Reference-free SimPO: `z = (c - r) - γ/β`.
    case simpo
    /// DPO, the seed's comparison: `z = (c - r) - (c_ref - r_ref)`.
    case dpo
}

/// How the SFT term averages the chosen negative log-likelihood.
public enum SFTReduction: String, CaseIterable, Sendable {
    /// The seed's `mean(-chosen_logps)` over sequences.
    case sequence
    /// princeton-nlp/SimPO's and TRL's cross-entropy: minus the mean over every
    /// selected chosen token in the batch.
    case token
}

/// SimPO's target reward margin, in one of its two published forms.
public enum TargetMargin: Equatable, Sendable {
    /// princeton-nlp/SimPO's `gamma_beta_ratio` (γ/β).
    case gammaBetaRatio(Double)
    /// TRL's absolute `simpo_gamma` (γ); the ratio is `gamma / beta`.
    case gamma(Double)
}

/// Every setting of the loss, named as in the seed specification.
public struct LossConfiguration: Equatable, Sendable {
    public var objective: Objective
    public var lossType: LossType
    /// β, the reward scale. Defaults: 2.0 for SimPO, 0.1 for DPO.
    public var beta: Double
    /// SimPO's margin; ignored by DPO.
    public var margin: TargetMargin
    /// ε in [0, 0.5]; the sigmoid loss only.
    public var labelSmoothing: Double
    /// λ ≥ 0, the weight of the SFT term.
    public var sftWeight: Double
    public var sftReduction: SFTReduction
    /// Masked mean (true) or masked sum (false) of per-token log-probs.
    /// Defaults: true for SimPO, false for DPO.
    public var averageLogProb: Bool
    /// Labels equal to this are padding when a side gives labels.
    public var labelPadTokenID: Int64

    /// The defaults of princeton-nlp/SimPO (β 2.0, γ/β 0.25, average) or of DPO (β 0.1, sum).
    public init(objective: Objective = .simpo) {
        self.objective = objective
        lossType = .sigmoid
        beta = objective == .simpo ? 2.0 : 0.1
        margin = .gammaBetaRatio(objective == .simpo ? 0.25 : 0)
        labelSmoothing = 0
        sftWeight = 0
        sftReduction = .sequence
        averageLogProb = objective == .simpo
        labelPadTokenID = -100
    }

    /// γ/β, whichever form the margin was given in.
    public var gammaBetaRatio: Double {
        switch margin {
        case .gammaBetaRatio(let ratio): return ratio
        case .gamma(let gamma): return gamma / beta
        }
    }

    /// The range checks that parsing applies, for configurations built in code.
    public func validate() throws(LossInputError) {
        var issues = IssueCollector()
        let config = FieldPath("config")
        if !(beta > 0 && beta.isFinite) {
            issues.add(.outOfRange(allowed: "a finite number > 0"), at: config.key(ConfigKey.beta.rawValue))
        }
        switch margin {
        case .gammaBetaRatio(let ratio) where !(ratio >= 0 && ratio.isFinite):
            issues.add(.outOfRange(allowed: "a finite number >= 0"), at: config.key(ConfigKey.gammaBetaRatio.rawValue))
        case .gamma(let gamma) where !(gamma >= 0 && gamma.isFinite):
            issues.add(.outOfRange(allowed: "a finite number >= 0"), at: config.key(ConfigKey.gamma.rawValue))
        default:
            break
        }
        if !(labelSmoothing >= 0 && labelSmoothing <= 0.5) {
            issues.add(.outOfRange(allowed: "between 0 and 0.5"), at: config.key(ConfigKey.labelSmoothing.rawValue))
        }
        if !(sftWeight >= 0 && sftWeight.isFinite) {
            issues.add(.outOfRange(allowed: "a finite number >= 0"), at: config.key(ConfigKey.sftWeight.rawValue))
        }
        try issues.throwIfAny()
    }
}

/// The configuration keys, as requests spell them.
public enum ConfigKey: String, CaseIterable, Sendable {
    case objective
    case lossType = "loss_type"
    case beta
    case gammaBetaRatio = "gamma_beta_ratio"
    case gamma
    case labelSmoothing = "label_smoothing"
    case sftWeight = "sft_weight"
    case sftReduction = "sft_reduction"
    case averageLogProb = "average_log_prob"
    case labelPadTokenID = "label_pad_token_id"
}
