#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The f-divergence that f-DPO regularises with; it maps a log-ratio u to a score f(u).
public enum FDivergence: String, CaseIterable, Sendable {
    /// f(u) = u: standard DPO.
    case reverseKL = "reverse_kl"
    /// f(u) = 1 − e^(−u).
    case forwardKL = "forward_kl"
    /// f(u) = ln 2 + log σ(u).
    case jsDivergence = "js_divergence"
    /// f(u) = (e^((a−1)u) − 1)/(a − 1), with (a − 1)u clamped at 80 as TRL does;
    /// reverse KL when |a − 1| < 1e-6.
    case alphaDivergence = "alpha_divergence"

    /// The score f(u) and its derivative, as torch's autograd takes it (0 past the clamp).
    func score(_ u: Double, alphaCoefficient a: Double) -> (value: Double, derivative: Double) {
        switch self {
        case .reverseKL:
            return (u, 1)
        case .forwardKL:
            let e = exp(-u)
            return (1 - e, e)
        case .jsDivergence:
            return (log(2) + logSigmoid(u), sigmoid(-u))
        case .alphaDivergence:
            guard abs(a - 1) >= 1e-6 else { return (u, 1) }
            let t = (a - 1) * u
            let clamped = min(t, 80)
            // e^t − 1 as −(1 − e^t), exact as a → 1.
            return (-oneMinusExp(clamped) / (a - 1), t <= 80 ? exp(clamped) : 0)
        }
    }
}
