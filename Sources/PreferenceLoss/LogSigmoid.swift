#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// log σ(x), finite for every finite x.
///
/// Computed as PyTorch's `logsigmoid` does: `min(x, 0) - log1p(exp(-|x|))`, which
/// never overflows `exp` and keeps full precision in both tails.
public func logSigmoid(_ x: Double) -> Double {
    min(x, 0) - log1p(exp(-abs(x)))
}

/// σ(x) = 1 / (1 + e^(-x)), without overflow for large |x|.
public func sigmoid(_ x: Double) -> Double {
    if x >= 0 {
        return 1 / (1 + exp(-x))
    }
    let e = exp(x)
    return e / (1 + e)
}

/// log(1 − e^x) for x < 0, as TRL's ORPO computes it: `log1p(−e^x)` below −ln 2 and
/// `log(−expm1(x))` above, so neither branch cancels.
public func log1mexp(_ x: Double) -> Double {
    x < -0.6931471805599453 ? log1p(-exp(x)) : log(oneMinusExp(x))
}

/// 1 − e^x, exact near x = 0.
func oneMinusExp(_ x: Double) -> Double {
    -expm1(x)
}
