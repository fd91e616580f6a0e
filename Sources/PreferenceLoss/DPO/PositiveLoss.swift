/// dpop, DPO-Positive (Smaug; PaddleNLP's `dpop`): −log σ(β(Δ − λ·max(0, c_ref − c))), so the
/// chosen log-prob falling below the reference's is penalised inside the sigmoid. TRL allows
/// no f-divergence here, so the scores are u = c − c_ref and v.
func positiveTerm(_ input: DPOTermInput) -> DPOTerm {
    let (beta, lambda) = (input.beta, input.parameters.dpopLambda)
    var term = DPOTerm(losses: [], chosenDerivatives: [], rejectedDerivatives: [])
    for i in 0 ..< input.size {
        let shortfall = input.referenceChosen[i] - input.chosen[i]
        let x = beta * (input.chosenScores[i] - input.rejectedScores[i] - lambda * max(shortfall, 0))
        // d/du of max(c_ref − c, 0) is −1 where the chosen log-prob is below the reference's, 0 at the kink.
        let slope = beta * (shortfall > 0 ? 1 + lambda : 1)
        term.losses.append(-logSigmoid(x))
        term.chosenDerivatives.append(-sigmoid(-x) * slope)
        term.rejectedDerivatives.append(beta * sigmoid(-x))
    }
    return term
}
