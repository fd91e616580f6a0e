/// KTOTrainer's loss on each completion.
public enum KTOLossType: String, CaseIterable, Sendable {
    /// KTO's eq. (7): `1 − σ(β(u − KL))` for a desirable completion, `1 − σ(β(KL − u))` for an
    /// undesirable one, u being the completion's log-ratio to the reference.
    case kto
    /// APO-zero, unpaired: `1 − σ(βu)` for a desirable completion, `σ(βu)` for an undesirable
    /// one; no KL.
    case apoZeroUnpaired = "apo_zero_unpaired"
}

/// TRL 1.16's KTOTrainer: unpaired completions, each desirable (the chosen side) or
/// undesirable (the rejected side), of any numbers, with the reference model's log-probs.
///
/// Each completion's loss is `w·σ(−β·z)`: z = u − KL for a desirable one and KL − u for an
/// undesirable one (apo_zero_unpaired: u and −u), w the side's weight; the loss is their mean
/// over every completion. Sequence log-probs are masked sums; rewards are β·u. The KL
/// reference point is a constant (no gradient flows through it): the mean over the KL
/// completions of (policy − reference) log-probs, or the value the caller sends, clamped at 0.
public struct KTO: Equatable, Sendable {
    public static let name = "kto"

    /// TRL's KTOConfig names.
    public enum Parameter: String, CaseIterable, Sendable {
        case lossType = "loss_type"
        case beta
        case desirableWeight = "desirable_weight"
        case undesirableWeight = "undesirable_weight"
    }

    public var lossType = KTOLossType.kto
    public var beta = 0.1
    /// The weight of each desirable completion's loss.
    public var desirableWeight = 1.0
    /// The weight of each undesirable completion's loss.
    public var undesirableWeight = 1.0

    /// TRL's KTOConfig defaults.
    public init() {}

    /// TRL checks none of these; the formulas need β > 0 and finite weights ≥ 0.
    public func validate(_ issues: inout IssueCollector<InputLocation>) {
        issues.requirePositive(beta, Self.location(.beta))
        issues.requireNonNegative(desirableWeight, Self.location(.desirableWeight))
        issues.requireNonNegative(undesirableWeight, Self.location(.undesirableWeight))
    }
}

extension KTO: Objective {
    public var usesReferences: Bool { true }
    public var isPaired: Bool { false }
    public var reduction: TokenReduction { .sum }
    public var chosenTokenTerm: PerTokenRequirement? { nil }
    public var klUse: InputUse { lossType == .kto ? .required : .unused }

    public func evaluate(_ batch: ReducedBatch) -> ObjectiveOutput {
        let count = Double(batch.chosen.logps.count + batch.rejected.logps.count)
        let kl = lossType == .kto ? batch.kl : 0
        var output = ObjectiveOutput(
            losses: [], logits: [], chosenRewards: [], rejectedRewards: [], chosenGradients: [], rejectedGradients: [])
        for (logp, reference) in zip(batch.chosen.logps, batch.referenceChosen) {
            let ratio = logp - reference
            let (loss, derivative) = weightedLoss(ratio - kl, weight: desirableWeight)
            output.losses.append(loss)
            output.logits.append(ratio - kl)
            output.chosenRewards.append(beta * ratio)
            output.chosenGradients.append(derivative / count)
        }
        for (logp, reference) in zip(batch.rejected.logps, batch.referenceRejected) {
            let ratio = logp - reference
            let (loss, derivative) = weightedLoss(kl - ratio, weight: undesirableWeight)
            output.losses.append(loss)
            output.logits.append(kl - ratio)
            output.rejectedRewards.append(beta * ratio)
            output.rejectedGradients.append(-derivative / count)
        }
        output.kl = kl
        return output
    }

    /// `w·(1 − σ(βz)) = w·σ(−βz)` and its derivative in z.
    private func weightedLoss(_ z: Double, weight: Double) -> (loss: Double, derivative: Double) {
        let x = beta * z
        return (weight * sigmoid(-x), -weight * beta * sigmoid(x) * sigmoid(-x))
    }

    public func warnings(_ metrics: RewardMetrics) -> [LossWarning] { [] }
}
