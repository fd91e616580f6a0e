#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// sigmoid, hinge, exo_pair, robust and discopop: functions of x = βΔ, Δ = f(u) − f(v).
func marginTerm(_ type: DPOLossType, _ input: DPOTermInput) -> DPOTerm {
    let beta = input.beta
    var term = DPOTerm(losses: [], chosenDerivatives: [], rejectedDerivatives: [])
    for (chosenScore, rejectedScore) in zip(input.chosenScores, input.rejectedScores) {
        let pair = marginLoss(type, beta * (chosenScore - rejectedScore), input.parameters)
        term.losses.append(pair.loss)
        term.chosenDerivatives.append(beta * pair.derivative)
        term.rejectedDerivatives.append(-beta * pair.derivative)
    }
    return term
}

/// The loss of x = βΔ and its derivative in x.
private func marginLoss(_ type: DPOLossType, _ x: Double, _ parameters: DPO) -> (loss: Double, derivative: Double) {
    let epsilon = parameters.labelSmoothing
    switch type {
    case .hinge:
        return hingeLoss(x)
    case .exoPair:
        // σ(x)(log σ(x) − log(1−ε)) + σ(−x)(log σ(−x) − log ε); d/dx = σ(x)σ(−x)(a − b).
        let a = logSigmoid(x) - log1p(-epsilon)
        let b = logSigmoid(-x) - log(epsilon)
        let (p, q) = (sigmoid(x), sigmoid(-x))
        return (p * a + q * b, p * q * (a - b))
    case .robust:
        // (−(1−ε) log σ(x) + ε log σ(−x)) / (1 − 2ε).
        let scale = 1 - 2 * epsilon
        return (
            (-(1 - epsilon) * logSigmoid(x) + epsilon * logSigmoid(-x)) / scale,
            (-(1 - epsilon) * sigmoid(-x) - epsilon * sigmoid(x)) / scale
        )
    case .discopop:
        // −log σ(x)(1 − m) + e^(−x) m with m = σ(x/τ).
        let tau = parameters.discopopTau
        let m = sigmoid(x / tau)
        let dm = m * (1 - m) / tau
        let logistic = -logSigmoid(x)
        // e^(−x)·m as exp(−x + log m): finite where e^(−x) alone overflows and m underflows.
        let weighted = exp(-x + logSigmoid(x / tau))
        return (
            logistic * (1 - m) + weighted,
            -sigmoid(-x) * (1 - m) - logistic * dm - weighted + weighted * (1 - m) / tau
        )
    default:
        return (-logSigmoid(x), -sigmoid(-x))
    }
}
