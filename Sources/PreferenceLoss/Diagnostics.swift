/// The warnings of the seed's Debugging section, and configuration the loss ignores.
///
/// Reward-margin and very-negative log-prob warnings apply to SimPO (the seed's
/// typical values are SimPO's averaged log-probs); a positive mean log-prob is
/// impossible for a real model under either objective.
func diagnose(_ metrics: RewardMetrics, configuration: LossConfiguration) -> [LossWarning] {
    var warnings: [LossWarning] = []
    let simpo = configuration.objective == .simpo
    if simpo && metrics.margin < 0.5 {
        warnings.append(LossWarning(
            code: "low_reward_margin",
            message: "reward margin \(metrics.margin) < 0.5: preferences may not be learned; consider a larger beta or gamma_beta_ratio"))
    }
    if simpo && metrics.margin > 5 {
        warnings.append(LossWarning(
            code: "high_reward_margin",
            message: "reward margin \(metrics.margin) > 5.0: may be overfitting; consider a smaller beta or learning rate"))
    }
    if simpo && configuration.averageLogProb && metrics.chosenLogp < -10 && metrics.rejectedLogp < -10 {
        warnings.append(LossWarning(
            code: "very_negative_logps",
            message: "mean chosen and rejected log-probs are both below -10: the model may not be learning"))
    }
    if metrics.chosenLogp > 0 && metrics.rejectedLogp > 0 {
        warnings.append(LossWarning(
            code: "positive_logps",
            message: "mean chosen and rejected log-probs are both above 0, which no probability allows: check for numerical instability or inputs that are not log-probs"))
    }
    if configuration.lossType == .hinge && configuration.labelSmoothing > 0 {
        warnings.append(LossWarning(
            code: "label_smoothing_ignored",
            message: "label_smoothing applies to the sigmoid loss only; the hinge loss ignores it"))
    }
    return warnings
}
