#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// CPOTrainer's pair loss.
public enum CPOLossType: String, CaseIterable, Sendable {
    /// `−log σ(βz)(1 − ε) − log σ(−βz)ε`.
    case sigmoid
    /// `relu(1 − βz)`.
    case hinge
    /// `(z − 1/(2β))²`.
    case ipo
    /// sigmoid with z shifted by γ/β, on averaged log-probs.
    case simpo
}

/// TRL 1.16's CPOTrainer (and SimPO and AlphaPO through it): a reference-free pair loss on
/// z = R(c) − R(r) (minus γ/β for simpo), plus `cpo_alpha` times the chosen NLL.
///
/// R is AlphaPO's `(1 − e^(−αx))/α` when α ≠ 0, else the identity. Log-probs are masked means
/// for ipo and simpo, masked sums otherwise. Rewards are β·R(c) and β·R(r).
public struct CPO: Equatable, Sendable {
    public static let name = "cpo"

    /// TRL's CPOConfig names.
    public enum Parameter: String, CaseIterable, Sendable {
        case lossType = "loss_type"
        case beta
        case simpoGamma = "simpo_gamma"
        case labelSmoothing = "label_smoothing"
        case cpoAlpha = "cpo_alpha"
        case alpha
    }

    public var lossType = CPOLossType.sigmoid
    public var beta = 0.1
    /// TRL's absolute γ; simpo only.
    public var simpoGamma = 0.5
    public var labelSmoothing = 0.0
    /// The weight of the chosen NLL.
    public var cpoAlpha = 1.0
    /// AlphaPO's reward exponent; 0 keeps log-prob rewards.
    public var alpha = 0.0

    /// TRL's CPOConfig defaults.
    public init() {}

    public func validate(_ issues: inout IssueCollector<InputLocation>) {
        issues.requirePositive(beta, Self.location(.beta))
        issues.requireNonNegative(simpoGamma, Self.location(.simpoGamma))
        issues.requireLabelSmoothing(labelSmoothing, Self.location(.labelSmoothing))
        issues.requireNonNegative(cpoAlpha, Self.location(.cpoAlpha))
        issues.requireFinite(alpha, Self.location(.alpha))
    }

    /// The reward transform R and its derivative.
    private func transform(_ x: Double) -> (value: Double, derivative: Double) {
        guard alpha != 0 else { return (x, 1) }
        // R(x) = x · (1 − e^(−t))/t with t = αx, which tends to x as α → 0 without cancelling.
        let t = alpha * x
        let ratio = abs(t) < 1e-5 ? 1 - t / 2 + t * t / 6 : oneMinusExp(-t) / t
        return (x * ratio, exp(-t))
    }
}

extension CPO: Objective {
    public var usesReferences: Bool { false }
    public var reduction: TokenReduction { lossType == .ipo || lossType == .simpo ? .mean : .sum }

    public var chosenTokenTerm: PerTokenRequirement? {
        cpoAlpha > 0
            ? PerTokenRequirement(
                sides: [.chosen], parameter: Parameter.cpoAlpha.rawValue,
                reason: "cpo_alpha > 0 adds the chosen tokens' NLL, so needs per-token chosen log-probs") : nil
    }

    public func evaluate(_ batch: ReducedBatch) -> ObjectiveOutput {
        let count = Double(batch.size)
        let margin = lossType == .simpo ? simpoGamma / beta : 0
        var output = ObjectiveOutput(
            losses: [], logits: [], chosenRewards: [], rejectedRewards: [], chosenGradients: [], rejectedGradients: [])
        for (c, r) in zip(batch.chosen.logps, batch.rejected.logps) {
            let (chosen, rejected) = (transform(c), transform(r))
            let z = chosen.value - rejected.value - margin
            let pair: (loss: Double, derivative: Double)
            switch lossType {
            case .sigmoid, .simpo:
                let smoothed = smoothedSigmoidLoss(beta * z, labelSmoothing: labelSmoothing)
                pair = (smoothed.loss, beta * smoothed.derivative)
            case .hinge:
                let hinge = hingeLoss(beta * z)
                pair = (hinge.loss, beta * hinge.derivative)
            case .ipo:
                let gap = z - 1 / (2 * beta)
                pair = (gap * gap, 2 * gap)
            }
            output.losses.append(pair.loss)
            output.logits.append(z)
            output.chosenRewards.append(beta * chosen.value)
            output.rejectedRewards.append(beta * rejected.value)
            output.chosenGradients.append(pair.derivative * chosen.derivative / count)
            output.rejectedGradients.append(-pair.derivative * rejected.derivative / count)
        }
        if cpoAlpha > 0 {
            let totals = batch.chosenTokenTotals
            output.sftLoss = -totals.sum / totals.count
            output.chosenTokenCoefficient = -cpoAlpha / totals.count
        }
        output.sftWeight = cpoAlpha
        output.nllLoss = output.sftLoss
        return output
    }

    public func warnings(_ metrics: RewardMetrics) -> [LossWarning] {
        var warnings: [LossWarning] = []
        if (lossType == .hinge || lossType == .ipo) && labelSmoothing > 0 {
            warnings.append(
                warning(
                    "no_effect",
                    "the \(lossType.rawValue) loss does not support label smoothing; label_smoothing is ignored: drop it or use loss_type 'sigmoid'"
                ))
        }
        if lossType != .simpo && simpoGamma != CPO().simpoGamma {
            warnings.append(
                warning(
                    "no_effect",
                    "simpo_gamma is read by loss_type 'simpo' only; '\(lossType.rawValue)' ignores it: drop it or use loss_type 'simpo'"
                ))
        }
        return warnings
    }
}
