/// A parameter of some objective, named as TRL's and princeton-nlp/SimPO's configs name it.
///
/// Validation reports problems with a parameter at `FieldPath.parameter(_:)`, so a caller
/// that reads parameters from a document can point at the offending one.
public enum LossParameter: String, CaseIterable, Sendable {
    case lossType = "loss_type"
    case lossWeights = "loss_weights"
    case beta
    case gammaBetaRatio = "gamma_beta_ratio"
    case gamma
    case simpoGamma = "simpo_gamma"
    case labelSmoothing = "label_smoothing"
    case sftWeight = "sft_weight"
    case sftReduction = "sft_reduction"
    case averageLogProb = "average_log_prob"
    case discopopTau = "discopop_tau"
    case fDivergenceType = "f_divergence_type"
    case fAlphaDivergenceCoef = "f_alpha_divergence_coef"
    case ldAlpha = "ld_alpha"
    case useWeighting = "use_weighting"
    case cpoAlpha = "cpo_alpha"
    case alpha
}

extension FieldPath {
    /// Where a configuration parameter's problems are reported: `/config/<name>`.
    public static func parameter(_ parameter: LossParameter) -> FieldPath {
        FieldPath("config", parameter.rawValue)
    }
}
