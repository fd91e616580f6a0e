/// The warnings of every objective: its own, then the ones that hold for all.
func diagnose(_ metrics: RewardMetrics, objective: any ObjectiveEvaluator) -> [LossWarning] {
    var warnings = objective.warnings(metrics)
    if metrics.chosenLogp > 0 && metrics.rejectedLogp > 0 {
        warnings.append(objective.warning(
            "positive_logps",
            "mean chosen and rejected log-probs are both above 0, which no probability allows: check for numerical instability or inputs that are not log-probs"))
    }
    return warnings
}
