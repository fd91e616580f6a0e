/// Computes the loss of one batch with its gradients, rewards, metrics and warnings.
///
/// Each side's per-token log-probs are reduced as the objective says (see `TokenReduction`);
/// the objective turns the sequence log-probs into per-pair losses and their derivatives;
/// this function spreads those over the tokens, adds the terms that act on chosen tokens
/// directly, and computes the metrics TRL logs. Gradients follow PyTorch autograd on TRL's
/// expressions; reference log-probs are constants (a frozen reference model).
///
/// - Parameters:
///   - configuration: the objective, already checked, and when the batch warnings fire.
///   - tokenGradients: also return gradients for each per-token side.
///   - cancellation: read between the passes over the batch; once it is set, the evaluation stops.
/// - Throws: `LossInputError` naming the offending inputs: mismatched shapes, empty batches
///   or rows, rows that select no token, non-finite values, sides the configuration needs
///   per token, references that the objective needs or refuses, values outside the
///   objective's domain (each up to `maximumIssues`); else the first pair whose result
///   overflows. `CancellationError` once `cancellation` is set.
public func evaluateLoss(
    _ inputs: LossInputs,
    configuration: LossConfiguration,
    tokenGradients: Bool = false,
    cancellation: CancellationFlag? = nil
) throws -> LossResult {
    let objective = configuration.objective
    let thresholds = configuration.thresholds
    var issues = IssueCollector<InputLocation>()
    let references = referenceInputs(inputs, objective: objective, issues: &issues)

    for requirement in objective.perTokenRequirements + [objective.chosenTokenTerm].compactMap({ $0 }) {
        let unmet = [Side.chosen, .rejected].filter {
            requirement.sides.contains($0) && inputs.input(of: $0)?.isPerToken == false
        }
        guard !unmet.isEmpty else { continue }
        if let parameter = requirement.parameter {
            issues.add(.notApplicable(because: requirement.reason), at: .parameter(parameter))
        } else {
            for side in unmet { issues.add(.missing(because: requirement.reason), at: .logps(side)) }
        }
    }
    let batchSize = inputs.chosen.rowCount
    if objective.isPaired {
        if batchSize == 0 {
            issues.add(.emptyBatch, at: .logps(.chosen))
        }
        var sides = [(inputs.rejected, Side.rejected)]
        if let references {
            sides += [(references.chosen, .referenceChosen), (references.rejected, .referenceRejected)]
        }
        for (input, side) in sides where input.rowCount != batchSize {
            issues.add(.batchSizeMismatch(expected: batchSize, actual: input.rowCount), at: .logps(side))
        }
    } else {
        if batchSize + inputs.rejected.rowCount == 0 {
            issues.add(.emptyBatch, at: .logps(.chosen))
        }
        if let references {
            for (reference, policy, side) in [
                (references.chosen, inputs.chosen, Side.referenceChosen),
                (references.rejected, inputs.rejected, .referenceRejected),
            ] where reference.rowCount != policy.rowCount {
                issues.add(
                    .referenceSizeMismatch(expected: policy.rowCount, actual: reference.rowCount), at: .logps(side))
            }
        }
    }
    let kl = klInput(inputs, objective: objective, issues: &issues)
    let logSumSq = logSumSqProbs(inputs, objective: objective, issues: &issues)
    let chosenTotals = inputs.chosen.selectedTotals(side: .chosen, alongside: logSumSq?.chosen, issues: &issues)
    let rejectedTotals = inputs.rejected.selectedTotals(
        side: .rejected, alongside: logSumSq?.rejected, issues: &issues)
    var pairWeights: [Double]?
    if let logSumSq {
        pairWeights = wpoWeights(
            chosen: chosenTotals, rejected: rejectedTotals, logSumSqProbs: logSumSq, issues: &issues)
    }
    let termTokens = chosenTermTokens(inputs, totals: chosenTotals, objective: objective, issues: &issues)
    let referenceTotals = references.map {
        (
            chosen: $0.chosen.selectedTotals(side: .referenceChosen, issues: &issues),
            rejected: $0.rejected.selectedTotals(side: .referenceRejected, issues: &issues)
        )
    }
    try issues.throwIfAny()
    try cancellation?.check()

    // LD-DPO keeps each pair's first min(N_chosen, N_rejected) selected tokens at full weight.
    let shared = zip(chosenTotals.selectedCounts ?? [], rejectedTotals.selectedCounts ?? []).map { min($0, $1) }
    let reduction = objective.reduction
    let chosen = chosenTotals.reduced(by: reduction, side: inputs.chosen, fullWeightCounts: shared)
    let rejected = rejectedTotals.reduced(by: reduction, side: inputs.rejected, fullWeightCounts: shared)
    var referenceChosen: [Double] = [], referenceRejected: [Double] = []
    if let references, let referenceTotals {
        if case .lengthDesensitized = reduction {
            // TRL weighs reference tokens by the policy's completion mask: the rows must select alike.
            requireSameSelection(referenceTotals.chosen, as: chosenTotals, issues: &issues)
            requireSameSelection(referenceTotals.rejected, as: rejectedTotals, issues: &issues)
        }
        referenceChosen =
            referenceTotals.chosen.reduced(by: reduction, side: references.chosen, fullWeightCounts: shared).logps
        referenceRejected =
            referenceTotals.rejected.reduced(by: reduction, side: references.rejected, fullWeightCounts: shared).logps
    }
    var batch = ReducedBatch(
        chosen: chosen, rejected: rejected, referenceChosen: referenceChosen, referenceRejected: referenceRejected,
        chosenTermTokens: (termTokens.counts, termTokens.sums), pairWeights: pairWeights)
    if let kl {
        batch.kl = kl.clamped
        if !batch.kl.isFinite { issues.add(.overflow, at: .logps(.kl)) }
    }
    objective.checkDomain(batch, issues: &issues)
    try issues.throwIfAny()
    try cancellation?.check()
    let output = objective.evaluate(batch)
    try cancellation?.check()

    let coefficient = output.chosenTokenCoefficient
    let chosenGradients = output.chosenGradients.indices.map { row in
        output.chosenGradients[row] + coefficient * Double(termTokens.counts[row]) / chosen.totalTokenWeight(row: row)
    }
    let metrics = RewardMetrics(
        output, chosenLogps: chosen.logps, rejectedLogps: rejected.logps, paired: objective.isPaired)
    let chosenTokenGradients =
        tokenGradients
        ? inputs.chosen.tokenGradients(
            output.chosenGradients, reduced: chosen, directCoefficient: coefficient, directTokens: termTokens.flags)
        : nil
    try cancellation?.check()
    let rejectedTokenGradients =
        tokenGradients
        ? inputs.rejected.tokenGradients(
            output.rejectedGradients, reduced: rejected, directCoefficient: 0, directTokens: nil) : nil
    try cancellation?.check()
    let preferenceLoss = mean(output.losses)
    let batchMetrics = BatchMetrics(
        batch, chosenRewards: output.chosenRewards, rejectedRewards: output.rejectedRewards, paired: objective.isPaired)
    var warnings = diagnose(
        metrics, batchMetrics, batch: batch, inputs: inputs, objective: objective, thresholds: thresholds)
    if objective.klUse == .unused, kl != nil {
        warnings.append(
            objective.warning(
                "no_effect", "this loss_type has no KL term: the KL completions or kl_value sent are ignored; drop them"
            ))
    }
    if objective.logSumSqProbsUse == .unused,
        inputs.chosenLogSumSqProbs != nil || inputs.rejectedLogSumSqProbs != nil
    {
        warnings.append(
            objective.warning(
                "no_effect",
                "log_sum_sq_probs is read by use_weighting only, which is off: drop it or set use_weighting"
            ))
    }
    let result = LossResult(
        loss: preferenceLoss + output.sftWeight * output.sftLoss,
        preferenceLoss: preferenceLoss,
        sftLoss: output.sftLoss,
        losses: output.losses,
        logits: output.logits,
        chosenLogps: chosen.logps,
        rejectedLogps: rejected.logps,
        chosenRewards: output.chosenRewards,
        rejectedRewards: output.rejectedRewards,
        metrics: metrics,
        batchMetrics: batchMetrics,
        lossesByType: output.lossesByType,
        gradients: LossGradients(
            chosenLogps: chosenGradients,
            rejectedLogps: output.rejectedGradients,
            chosenTokenLogps: chosenTokenGradients?.rows,
            rejectedTokenLogps: rejectedTokenGradients?.rows),
        warnings: warnings)
    try result.checkFinite(
        paired: objective.isPaired,
        tokenGradientsFinite: (chosenTokenGradients?.finite ?? true) && (rejectedTokenGradients?.finite ?? true))
    return result
}

/// The chosen tokens a term on chosen tokens averages over: `chosenNLLMask`'s when given
/// (after checking it fits the chosen rows and the objective has such a term), else the
/// chosen side's selection. `flags` is nil in the latter case.
private func chosenTermTokens(
    _ inputs: LossInputs, totals: ReducedSide, objective: any Objective, issues: inout IssueCollector<InputLocation>
) -> (counts: [Int], sums: [Double], flags: [Bool]?) {
    // Per-sequence chosen has no tokens: no term on chosen tokens can reach it (its requirement refuses that).
    let fallback = (
        counts: totals.selectedCounts ?? Array(repeating: 0, count: totals.logps.count), sums: totals.selectedSums,
        flags: [Bool]?.none
    )
    guard let mask = inputs.chosenNLLMask else { return fallback }
    guard objective.chosenTokenTerm != nil else {
        issues.add(
            .notApplicable(
                because: "objective '\(objective.name)' has no term on chosen tokens here (an SFT or NLL term)"),
            at: .chosenNLLMask())
        return fallback
    }
    guard case .tokenLogps(let rows, _) = inputs.chosen else {
        issues.add(
            .notApplicable(because: "an NLL mask selects chosen tokens, so goes with per-token chosen log-probs"),
            at: .chosenNLLMask())
        return fallback
    }
    guard rowsAlign(mask.rowOffsets, with: rows, issues: &issues, at: { .chosenNLLMask(row: $0) }) else {
        return fallback
    }
    let (sums, counts, _) = rows.rowSums(selected: mask.values)
    if rows.rowCount > 0 && counts.allSatisfy({ $0 == 0 }) {
        issues.add(
            .outOfRange(allowed: "at least one selected token: the SFT or NLL term averages over them"),
            at: .chosenNLLMask())
    }
    return (counts, sums, mask.values)
}

/// Records each per-token reference row that selects a different number of tokens than its
/// policy row, which LD-DPO's weights assume alike.
private func requireSameSelection(
    _ reference: ReducedSide, as policy: ReducedSide, issues: inout IssueCollector<InputLocation>
) {
    guard let referenceCounts = reference.selectedCounts, let policyCounts = policy.selectedCounts else { return }
    for (row, (referenceCount, policyCount)) in zip(referenceCounts, policyCounts).enumerated()
    where referenceCount != policyCount {
        issues.add(
            .unsupported(
                because:
                    "with ld_alpha a per-token reference row must select as many tokens as its policy row (\(policyCount), not \(referenceCount)): TRL weighs both by the policy's mask"
            ), at: .logps(reference.side, row: row))
    }
}

/// The reference sides, when the objective uses them; records their absence when it needs
/// them and their presence when it refuses them.
private func referenceInputs(
    _ inputs: LossInputs, objective: any Objective, issues: inout IssueCollector<InputLocation>
) -> (chosen: SideInput, rejected: SideInput)? {
    let name = objective.name
    if objective.usesReferences {
        if let chosen = inputs.referenceChosen, let rejected = inputs.referenceRejected {
            return (chosen, rejected)
        }
        for side in [Side.referenceChosen, .referenceRejected] where inputs.input(of: side) == nil {
            issues.add(.missing(because: "objective '\(name)' needs reference log-probs"), at: .side(side))
        }
    } else {
        for side in [Side.referenceChosen, .referenceRejected] where inputs.input(of: side) != nil {
            issues.add(.notApplicable(because: "objective '\(name)' is reference-free"), at: .side(side))
        }
    }
    return nil
}

extension SideInput {
    /// Spreads per-sequence gradients over the selected tokens of each row, by each token's
    /// weight in the reduction, and adds `directCoefficient` to every token of `directTokens`
    /// (every selected token when nil). Nil for per-sequence input.
    func tokenGradients(
        _ sequenceGradients: [Double], reduced: ReducedSide, directCoefficient: Double, directTokens: [Bool]?
    ) -> (rows: RaggedRows<Double>, finite: Bool)? {
        guard case .tokenLogps(let rows, _) = self else { return nil }
        guard case .lengthDesensitized = reduced.reduction else {
            // Every selected token of a row has the same weight: one fill, in the kernel.
            let rowGradients = sequenceGradients.indices.map {
                sequenceGradients[$0] * reduced.tokenWeight(row: $0, rank: 0)
            }
            let filled = filledGradients(
                rowOffsets: rows.rowOffsets, selected: reduced.selected, direct: directTokens,
                rowGradients: rowGradients, coefficient: directCoefficient)
            return (RaggedRows(values: filled.values, trustedRowOffsets: rows.rowOffsets), filled.finite)
        }
        var values: [Double] = []
        values.reserveCapacity(rows.count)
        for row in 0 ..< rows.rowCount {
            let range = rows.rowOffsets[row] ..< rows.rowOffsets[row + 1]
            var rank = 0
            for index in range {
                let selected = reduced.selected?[index] ?? true
                var gradient = 0.0
                if selected {
                    gradient = sequenceGradients[row] * reduced.tokenWeight(row: row, rank: rank)
                    rank += 1
                }
                if directTokens?[index] ?? selected {
                    gradient += directCoefficient
                }
                values.append(gradient)
            }
        }
        return (RaggedRows(values: values, trustedRowOffsets: rows.rowOffsets), values.allSatisfy(\.isFinite))
    }
}

extension LossResult {
    /// Refuses results that left Double's range, naming the row that did: each pair's, or for
    /// unpaired sides each chosen row's, then each rejected row's.
    func checkFinite(paired: Bool, tokenGradientsFinite: Bool) throws(LossInputError) {
        let chosenCount = chosenRewards.count
        func row(_ index: Int) -> InputLocation {
            paired || index < chosenCount ? .logps(.chosen, row: index) : .logps(.rejected, row: index - chosenCount)
        }
        for (index, values) in zip(losses, logits).enumerated() where !(values.0.isFinite && values.1.isFinite) {
            throw LossInputError([LossInputIssue(.overflow, at: row(index))])
        }
        for (side, rewards, gradients) in [
            (Side.chosen, chosenRewards, gradients.chosenLogps), (.rejected, rejectedRewards, gradients.rejectedLogps),
        ] {
            for (index, values) in zip(rewards, gradients).enumerated() where !(values.0.isFinite && values.1.isFinite)
            {
                throw LossInputError([LossInputIssue(.overflow, at: .logps(side, row: index))])
            }
        }
        for part in lossesByType where !part.losses.allSatisfy(\.isFinite) || !part.mean.isFinite {
            throw LossInputError([LossInputIssue(.overflow, at: .logps(.chosen))])
        }
        let means = [
            metrics.chosenReward, metrics.rejectedReward, metrics.margin, metrics.chosenLogp, metrics.rejectedLogp,
            metrics.kl, metrics.nllLoss, metrics.logOddsRatio, metrics.logOddsChosen,
        ]
        let scalars = [loss, preferenceLoss, sftLoss] + means.compactMap(\.self)
        if !scalars.allSatisfy(\.isFinite) || !tokenGradientsFinite {
            throw LossInputError([LossInputIssue(.overflow, at: .logps(.chosen))])
        }
    }
}

extension BatchMetrics {
    /// Ties between each pair's rewards (paired objectives), and the selected token counts of
    /// per-token sides.
    init(_ batch: ReducedBatch, chosenRewards: [Double], rejectedRewards: [Double], paired: Bool) {
        if paired {
            ties = Double(zip(chosenRewards, rejectedRewards).count { $0 == $1 }) / Double(batch.size)
        }
        guard let chosen = batch.chosen.selectedCounts, let rejected = batch.rejected.selectedCounts else { return }
        // Means per row of each side; an empty (unpaired) side has none.
        chosenTokens = chosen.isEmpty ? nil : Double(chosen.reduce(0, +)) / Double(chosen.count)
        rejectedTokens = rejected.isEmpty ? nil : Double(rejected.reduce(0, +)) / Double(rejected.count)
        if let chosenTokens, let rejectedTokens { lengthRatio = chosenTokens / rejectedTokens }
    }
}

extension RewardMetrics {
    /// The batch means of `output`: over pairs, or for unpaired sides over each side's rows
    /// (none for an empty side, and no accuracy), as TRL's KTOTrainer logs them.
    init(_ output: ObjectiveOutput, chosenLogps: [Double], rejectedLogps: [Double], paired: Bool) {
        func meanIfAny(_ values: [Double]) -> Double? { values.isEmpty ? nil : mean(values) }
        chosenReward = meanIfAny(output.chosenRewards)
        rejectedReward = meanIfAny(output.rejectedRewards)
        chosenLogp = meanIfAny(chosenLogps)
        rejectedLogp = meanIfAny(rejectedLogps)
        let rewards = zip(output.chosenRewards, output.rejectedRewards)
        if paired {
            accuracy = Double(rewards.count { $0 > $1 }) / Double(chosenLogps.count)
            margin = mean(rewards.map { $0 - $1 })
        } else if let chosenReward, let rejectedReward {
            margin = chosenReward - rejectedReward
        }
        kl = output.kl
        nllLoss = output.nllLoss
        logOddsRatio = output.logOddsRatio
        logOddsChosen = output.logOddsChosen
    }
}
