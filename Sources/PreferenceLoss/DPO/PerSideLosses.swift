/// nca_pair, bco_pair, sppo_hard, apo_zero and apo_down: each side's log-ratio on its own
/// (u = c − c_ref, v = r − r_ref; TRL allows no f-divergence here, so the scores are u and v).
func perSideTerm(_ type: DPOLossType, _ input: DPOTermInput) -> DPOTerm {
    let beta = input.beta
    var term = DPOTerm(losses: [], chosenDerivatives: [], rejectedDerivatives: [])
    for (u, v) in zip(input.chosenScores, input.rejectedScores) {
        let (loss, du, dv) = perSideLoss(type, u, v, beta: beta)
        term.losses.append(loss)
        term.chosenDerivatives.append(du)
        term.rejectedDerivatives.append(dv)
    }
    return term
}

/// The loss and its derivatives in u and v.
private func perSideLoss(_ type: DPOLossType, _ u: Double, _ v: Double, beta: Double) -> (Double, Double, Double) {
    let (x, y) = (beta * u, beta * v)
    switch type {
    case .ncaPair:
        // −log σ(βu) − ½ log σ(−βu) − ½ log σ(−βv)
        return (
            -logSigmoid(x) - 0.5 * logSigmoid(-x) - 0.5 * logSigmoid(-y),
            beta * (-sigmoid(-x) + 0.5 * sigmoid(x)), beta * 0.5 * sigmoid(y)
        )
    case .bcoPair:
        // −log σ(βu) − log σ(−βv)
        return (-logSigmoid(x) - logSigmoid(-y), -beta * sigmoid(-x), beta * sigmoid(y))
    case .sppoHard:
        // (u − 1/(2β))² + (v + 1/(2β))²
        let (winner, loser) = (u - 0.5 / beta, v + 0.5 / beta)
        return (winner * winner + loser * loser, 2 * winner, 2 * loser)
    case .apoZero:
        // 1 − σ(βu) + σ(βv)
        return (
            1 - sigmoid(x) + sigmoid(y),
            -beta * sigmoid(x) * sigmoid(-x), beta * sigmoid(y) * sigmoid(-y)
        )
    default:
        // apo_down: σ(βu) + 1 − σ(β(u − v))
        let z = x - y
        let dz = beta * sigmoid(z) * sigmoid(-z)
        return (sigmoid(x) + 1 - sigmoid(z), beta * sigmoid(x) * sigmoid(-x) - dz, dz)
    }
}
