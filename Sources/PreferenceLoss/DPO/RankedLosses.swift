/// aot and aot_unpaired: the label-smoothed sigmoid loss of sorted log-ratios, rank against rank.
///
/// - aot: δ_k = sort(c − r)_k − sort(c_ref − r_ref)_k;
/// - aot_unpaired: δ_k = sort(u)_k − sort(v)_k.
///
/// Losses are per rank. Each rank's derivative goes to the row that `torch.sort` put at that
/// rank; ties keep index order, as torch's CPU sort does.
func rankedTerm(_ type: DPOLossType, _ input: DPOTermInput) -> DPOTerm {
    let beta = input.beta
    let size = input.size
    let policy: [Double], reference: [Double]
    if type == .aot {
        policy = zip(input.chosen, input.rejected).map { $0 - $1 }
        reference = zip(input.referenceChosen, input.referenceRejected).map { $0 - $1 }
    } else {
        policy = input.chosenScores
        reference = input.rejectedScores
    }
    let policyOrder = stableAscendingOrder(policy)
    let referenceOrder = stableAscendingOrder(reference)
    var term = DPOTerm(
        losses: [], chosenDerivatives: Array(repeating: 0, count: size),
        rejectedDerivatives: Array(repeating: 0, count: size))
    for (policyRow, referenceRow) in zip(policyOrder, referenceOrder) {
        let pair = smoothedSigmoidLoss(
            beta * (policy[policyRow] - reference[referenceRow]), labelSmoothing: input.parameters.labelSmoothing)
        term.losses.append(pair.loss)
        let derivative = beta * pair.derivative
        if type == .aot {
            // c − r moves with both policy scores of the row at this rank.
            term.chosenDerivatives[policyRow] += derivative
            term.rejectedDerivatives[policyRow] -= derivative
        } else {
            term.chosenDerivatives[policyRow] += derivative
            term.rejectedDerivatives[referenceRow] -= derivative
        }
    }
    return term
}

/// The indices of `values` in ascending order, ties in index order.
private func stableAscendingOrder(_ values: [Double]) -> [Int] {
    values.indices.sorted { values[$0] < values[$1] || (values[$0] == values[$1] && $0 < $1) }
}
