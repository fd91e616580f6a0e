/// Computes the loss of one batch with its gradients, rewards, metrics and warnings.
///
/// For pair i with sequence log-probs cᵢ, rᵢ (and references for DPO):
/// - logit zᵢ = (cᵢ − rᵢ) − γ/β (SimPO) or (cᵢ − rᵢ) − (c_refᵢ − r_refᵢ) (DPO);
/// - loss = mean(ℓ(zᵢ)) + λ·sft, with ℓ the sigmoid or hinge loss;
/// - sft = mean(−cᵢ) (`sequence`) or −Σ selected chosen tokens / their count (`token`).
///
/// Gradients follow PyTorch autograd on the same expressions; reference
/// log-probs are constants (a frozen reference model), so they get none.
///
/// - Parameter tokenGradients: also return gradients for each per-token side.
/// - Throws: `LossInputError` naming every offending field: mismatched shapes,
///   empty batches or rows, rows that select no token, non-finite values,
///   references that the objective needs or refuses, and results that overflow.
public func evaluateLoss(
    _ inputs: LossInputs,
    configuration config: LossConfiguration,
    tokenGradients: Bool = false
) throws(LossInputError) -> LossResult {
    try config.validate()
    var issues = IssueCollector()
    let references = referenceInputs(inputs, objective: config.objective, issues: &issues)

    func reduce(_ side: SideInput, _ name: SideName) -> ReducedSide {
        side.reduced(averaging: config.averageLogProb, labelPadTokenID: config.labelPadTokenID, path: name.path, issues: &issues)
    }
    let chosen = reduce(inputs.chosen, .chosen)
    let rejected = reduce(inputs.rejected, .rejected)
    let reduced = references.map { (chosen: reduce($0.chosen, .referenceChosen), rejected: reduce($0.rejected, .referenceRejected)) }

    let batchSize = inputs.chosen.rowCount
    if batchSize == 0 {
        issues.add(.emptyBatch, at: SideName.chosen.path.key(inputs.chosen.rowsKey))
    }
    var sides = [(inputs.rejected, SideName.rejected)]
    if let references { sides += [(references.chosen, .referenceChosen), (references.rejected, .referenceRejected)] }
    for (side, name) in sides where side.rowCount != batchSize {
        issues.add(.batchSizeMismatch(expected: batchSize, actual: side.rowCount), at: name.path.key(side.rowsKey))
    }
    if config.sftReduction == .token, case .sequenceLogps = inputs.chosen {
        issues.add(.notApplicable(because: "sft_reduction 'token' needs chosen per_token_logps"), at: FieldPath("config", ConfigKey.sftReduction.rawValue))
    }
    try issues.throwIfAny()

    let count = Double(batchSize)
    var logits: [Double] = [], losses: [Double] = [], derivatives: [Double] = []
    var chosenRewards: [Double] = [], rejectedRewards: [Double] = []
    for i in 0 ..< batchSize {
        let logRatio = chosen.logps[i] - rejected.logps[i]
        let logit: Double
        if let reduced {
            logit = logRatio - (reduced.chosen.logps[i] - reduced.rejected.logps[i])
            chosenRewards.append(config.beta * (chosen.logps[i] - reduced.chosen.logps[i]))
            rejectedRewards.append(config.beta * (rejected.logps[i] - reduced.rejected.logps[i]))
        } else {
            logit = logRatio - config.gammaBetaRatio
            chosenRewards.append(config.beta * chosen.logps[i])
            rejectedRewards.append(config.beta * rejected.logps[i])
        }
        let pair = PairLoss(logit: logit, beta: config.beta, type: config.lossType, labelSmoothing: config.labelSmoothing)
        logits.append(logit)
        losses.append(pair.loss)
        derivatives.append(pair.derivative)
    }

    let sft = SFTTerm(chosen: chosen, reduction: config.sftReduction, averaged: config.averageLogProb)
    let preferenceLoss = losses.reduce(0, +) / count
    var chosenGradients: [Double] = [], rejectedGradients: [Double] = []
    for i in 0 ..< batchSize {
        chosenGradients.append(derivatives[i] / count - config.sftWeight * sft.weights[i])
        rejectedGradients.append(-derivatives[i] / count)
    }

    let metrics = RewardMetrics(
        chosenReward: chosenRewards.reduce(0, +) / count,
        rejectedReward: rejectedRewards.reduce(0, +) / count,
        accuracy: Double(zip(chosenRewards, rejectedRewards).count { $0 > $1 }) / count,
        margin: zip(chosenRewards, rejectedRewards).map { $0 - $1 }.reduce(0, +) / count,
        chosenLogp: chosen.logps.reduce(0, +) / count,
        rejectedLogp: rejected.logps.reduce(0, +) / count)

    let result = LossResult(
        loss: preferenceLoss + config.sftWeight * sft.loss,
        preferenceLoss: preferenceLoss,
        sftLoss: sft.loss,
        losses: losses,
        logits: logits,
        chosenLogps: chosen.logps,
        rejectedLogps: rejected.logps,
        chosenRewards: chosenRewards,
        rejectedRewards: rejectedRewards,
        metrics: metrics,
        gradients: LossGradients(
            chosenLogps: chosenGradients,
            rejectedLogps: rejectedGradients,
            chosenTokenLogps: tokenGradients ? inputs.chosen.tokenGradients(chosenGradients, reduced: chosen, config: config) : nil,
            rejectedTokenLogps: tokenGradients ? inputs.rejected.tokenGradients(rejectedGradients, reduced: rejected, config: config) : nil),
        warnings: diagnose(metrics, configuration: config))
    try result.checkFinite(chosenRowsPath: SideName.chosen.path.key(inputs.chosen.rowsKey))
    return result
}

/// The reference sides, when the objective needs them; records their absence
/// for DPO and their presence for SimPO.
private func referenceInputs(
    _ inputs: LossInputs, objective: Objective, issues: inout IssueCollector
) -> (chosen: SideInput, rejected: SideInput)? {
    switch objective {
    case .dpo:
        if let chosen = inputs.referenceChosen, let rejected = inputs.referenceRejected {
            return (chosen, rejected)
        }
        if inputs.referenceChosen == nil {
            issues.add(.missing(because: "objective 'dpo' needs reference log-probs"), at: SideName.referenceChosen.path)
        }
        if inputs.referenceRejected == nil {
            issues.add(.missing(because: "objective 'dpo' needs reference log-probs"), at: SideName.referenceRejected.path)
        }
    case .simpo:
        if inputs.referenceChosen != nil {
            issues.add(.notApplicable(because: "objective 'simpo' is reference-free"), at: SideName.referenceChosen.path)
        }
        if inputs.referenceRejected != nil {
            issues.add(.notApplicable(because: "objective 'simpo' is reference-free"), at: SideName.referenceRejected.path)
        }
    }
    return nil
}

extension SideInput {
    /// Spreads per-sequence gradients over the selected tokens of each row:
    /// ∂c/∂x = 1/count (mean) or 1 (sum) at selected tokens, 0 elsewhere.
    /// Nil for per-sequence input.
    func tokenGradients(_ sequenceGradients: [Double], reduced: ReducedSide, config: LossConfiguration) -> RaggedRows<Double>? {
        guard case .tokenLogps(let rows, _) = self, let counts = reduced.selectedCounts else { return nil }
        var values: [Double] = []
        values.reserveCapacity(rows.values.count)
        for row in 0 ..< rows.rowCount {
            let gradient = config.averageLogProb ? sequenceGradients[row] / Double(counts[row]) : sequenceGradients[row]
            let range = rows.rowOffsets[row] ..< rows.rowOffsets[row + 1]
            if let selected = reduced.selected {
                values.append(contentsOf: selected[range].lazy.map { $0 ? gradient : 0 })
            } else {
                values.append(contentsOf: repeatElement(gradient, count: range.count))
            }
        }
        return RaggedRows(values: values, trustedRowOffsets: rows.rowOffsets)
    }
}

extension LossResult {
    /// Refuses results that left Double's range, naming the pair that did.
    func checkFinite(chosenRowsPath: FieldPath) throws(LossInputError) {
        for i in losses.indices {
            let values = [logits[i], losses[i], chosenRewards[i], rejectedRewards[i], gradients.chosenLogps[i], gradients.rejectedLogps[i]]
            if !values.allSatisfy(\.isFinite) {
                throw LossInputError([LossInputIssue(.overflow, at: chosenRowsPath.index(i))])
            }
        }
        let scalars = [loss, preferenceLoss, sftLoss, metrics.chosenReward, metrics.rejectedReward, metrics.margin]
        if !scalars.allSatisfy(\.isFinite) {
            throw LossInputError([LossInputIssue(.overflow, at: chosenRowsPath)])
        }
    }
}
