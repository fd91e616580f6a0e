/// ipo and sigmoid_norm: the scores divided by each row's selected-token count,
/// δ = f(u)/N_c − f(v)/N_r.
func lengthNormalizedTerm(_ type: DPOLossType, _ input: DPOTermInput) -> DPOTerm {
    let beta = input.beta
    var term = DPOTerm(losses: [], chosenDerivatives: [], rejectedDerivatives: [])
    for i in 0 ..< input.size {
        let (chosenCount, rejectedCount) = (input.chosenCounts[i], input.rejectedCounts[i])
        let delta = input.chosenScores[i] / chosenCount - input.rejectedScores[i] / rejectedCount
        let loss: Double, derivative: Double
        if type == .ipo {
            // (δ − 1/(2β))², IPO's Eq. 17 with TRL's per-token normalisation.
            let gap = delta - 1 / (2 * beta)
            (loss, derivative) = (gap * gap, 2 * gap)
        } else {
            (loss, derivative) = (-logSigmoid(beta * delta), -beta * sigmoid(-beta * delta))
        }
        term.losses.append(loss)
        term.chosenDerivatives.append(derivative / chosenCount)
        term.rejectedDerivatives.append(-derivative / rejectedCount)
    }
    return term
}
