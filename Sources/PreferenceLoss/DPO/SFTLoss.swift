/// sft: minus the mean log-prob of every selected chosen token in the batch, the same on every
/// pair. It acts on the tokens directly, not through the sequence log-probs.
func sftTerm(_ type: DPOLossType, _ input: DPOTermInput) -> DPOTerm {
    let totals = input.chosenTokenTotals
    let zeros = Array(repeating: 0.0, count: input.size)
    return DPOTerm(
        losses: Array(repeating: -totals.sum / totals.count, count: input.size),
        chosenDerivatives: zeros, rejectedDerivatives: zeros,
        chosenTokenCoefficient: -1 / totals.count)
}
