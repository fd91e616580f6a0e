/// The warnings about one batch: the objective's own (its configuration, its typical ranges),
/// then the ones that hold for every objective.
func diagnose(
    _ metrics: RewardMetrics, _ batchMetrics: BatchMetrics, batch: ReducedBatch, inputs: LossInputs,
    objective: any Objective, thresholds: DiagnosticThresholds
) -> [LossWarning] {
    var warnings = objective.warnings(metrics)
    let meanLogps = [metrics.chosenLogp, metrics.rejectedLogp].compactMap(\.self)
    if !meanLogps.isEmpty && meanLogps.allSatisfy({ $0 > 0 }) {
        warnings.append(
            objective.warning(
                "positive_logps",
                "mean chosen and rejected log-probs (those an unpaired batch has) are above 0, which no probability allows: check for numerical instability or inputs that are not log-probs"
            ))
    }
    if objective.usesReferences && batch.chosen.logps == batch.referenceChosen
        && batch.rejected.logps == batch.referenceRejected
    {
        warnings.append(
            LossWarning(
                code: "reference_equals_policy",
                message:
                    "every reference log-prob equals the policy's, so every reward is 0 (the sigmoid loss is ln 2): expected at step 0 only; later, send log-probs from the frozen reference model, not the policy's"
            ))
    }
    if let bf16 = bf16Warning(batch: batch, inputs: inputs, minimumTokens: thresholds.bf16MinimumTokens) {
        warnings.append(bf16)
    }
    if let ratio = batchMetrics.lengthRatio,
        ratio >= thresholds.lengthImbalanceRatio || ratio <= 1 / thresholds.lengthImbalanceRatio
    {
        warnings.append(
            LossWarning(
                code: "length_imbalance",
                message:
                    "chosen responses have \(ratio) times as many selected tokens as rejected ones (threshold \(thresholds.lengthImbalanceRatio)): rewards can grow with length alone; balance lengths in the data, average log-probs, or use ld_alpha"
            ))
    }
    let counts = (batch.chosen.selectedCounts ?? []) + (batch.rejected.selectedCounts ?? [])
    let single = counts.count { $0 == 1 }
    if single > 0, Double(single) > thresholds.singleTokenRowsFraction * Double(counts.count) {
        warnings.append(
            LossWarning(
                code: "single_token_rows",
                message:
                    "\(single) of \(counts.count) per-token rows select exactly one token, so their log-prob rests on one token: check that masks cover the whole completion (labels shifted, prompt masked, not the reverse)"
            ))
    }
    return warnings
}

/// `bf16_inputs` when every selected policy log-prob (at least `minimumTokens` of them, not
/// all 0) is exactly a bfloat16 value, with what that rounding can cost the sequence log-probs.
private func bf16Warning(batch: ReducedBatch, inputs: LossInputs, minimumTokens: Int) -> LossWarning? {
    let sides = [(inputs.chosen, batch.chosen), (inputs.rejected, batch.rejected)].compactMap {
        input, reduced -> (TokenValues, ReducedSide)? in
        guard case .tokenLogps(let rows, _) = input else { return nil }
        return (rows, reduced)
    }
    var tokens = 0
    var nonzero = false
    for (rows, reduced) in sides {
        guard let scan = rows.selectedBFloat16(selected: reduced.selected) else { return nil }
        tokens += scan.count
        nonzero = nonzero || scan.nonzero
    }
    guard tokens >= minimumTokens, nonzero else { return nil }
    var worstSequenceError = 0.0
    for (rows, reduced) in sides {
        let magnitudes = rows.rowSums(selected: reduced.selected, magnitudes: true)
        for (magnitude, count) in zip(magnitudes.sums, magnitudes.counts) {
            let reducedMagnitude = reduced.reduction == .mean && count > 0 ? magnitude / Double(count) : magnitude
            worstSequenceError = max(worstSequenceError, reducedMagnitude * bfloat16RelativeError)
        }
    }
    return LossWarning(
        code: "bf16_inputs",
        message:
            "all \(tokens) selected log-probs are exactly bfloat16 values (8 significant bits), each off by up to 2^-8 of its size: up to \(worstSequenceError) nats on a sequence log-prob here; compute log_softmax in float32 (upcast the logits) before sending"
    )
}

/// The largest relative rounding error of a bfloat16 value: half its 2^-7 spacing.
let bfloat16RelativeError = 0x1p-8
