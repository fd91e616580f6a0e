/// TRL 1.16's DPOTrainer loss: `Σ_t w_t · mean_i ℓ_t(i)` over its loss types t, on the
/// f-divergence scores of the log-ratios u = c − c_ref and v = r − r_ref.
///
/// Sequence log-probs are masked sums, or LD-DPO's weighted sums when `ldAlpha` is set.
/// Rewards are β·u and β·v; the logit is Δ = f(u) − f(v).
public struct DPO: Equatable, Sendable {
    public static let name = "dpo"

    /// TRL's DPOConfig names.
    public enum Parameter: String, CaseIterable, Sendable {
        case lossType = "loss_type"
        case lossWeights = "loss_weights"
        case beta
        case labelSmoothing = "label_smoothing"
        case discopopTau = "discopop_tau"
        case fDivergenceType = "f_divergence_type"
        case fAlphaDivergenceCoef = "f_alpha_divergence_coef"
        case ldAlpha = "ld_alpha"
        case useWeighting = "use_weighting"
        /// PaddleNLP's DPOConfig name, for loss type dpop.
        case dpopLambda = "dpop_lambda"
    }

    public var lossTypes: [DPOLossType] = [.sigmoid]
    /// One weight per loss type; nil weighs each 1.0.
    public var lossWeights: [Double]?
    public var beta = 0.1
    /// ε; read by exo_pair, robust, aot and aot_unpaired only.
    public var labelSmoothing = 0.0
    /// τ of discopop's mixing coefficient.
    public var discopopTau = 0.05
    public var fDivergence = FDivergence.reverseKL
    /// a of the alpha divergence.
    public var fAlphaDivergenceCoef = 0.5
    /// LD-DPO's weight of the tokens past the shorter response, in [0, 1]; nil for plain sums.
    public var ldAlpha: Double?
    /// WPO weighting: each pair's loss times its weight (see `wpoWeights`), from the policy's
    /// per-token log-probs and log Σ p².
    public var useWeighting = false
    /// λ of dpop, PaddleNLP's default.
    public var dpopLambda = 50.0

    /// TRL's DPOConfig defaults.
    public init() {}

    /// The weight of each loss type.
    public var weights: [Double] { lossWeights ?? Array(repeating: 1, count: lossTypes.count) }

    /// Each distinct loss type once, in first-listed order, with the sum of its weights:
    /// a list that repeats a type costs no more than one that names it once.
    var distinctWeightedTypes: [(type: DPOLossType, weight: Double)] {
        var combined: [(type: DPOLossType, weight: Double)] = []
        for (type, weight) in zip(lossTypes, weights) {
            if let index = combined.firstIndex(where: { $0.type == type }) {
                combined[index].weight += weight
            } else {
                combined.append((type, weight))
            }
        }
        return combined
    }

    /// Whether each loss type's part is reported (`LossResult.lossesByType`): with two or
    /// more distinct types.
    var reportsParts: Bool { distinctWeightedTypes.count > 1 }

    /// One part per distinct loss type when there are two or more, else none.
    public var lossTypeParts: Int { reportsParts ? distinctWeightedTypes.count : 0 }

    /// TRL's checks and refusals, plus the ranges the formulas need.
    public func validate(_ issues: inout IssueCollector<InputLocation>) {
        if lossTypes.isEmpty {
            issues.add(.outOfRange(allowed: "at least one loss type"), at: Self.location(.lossType))
        }
        if let lossWeights {
            if lossWeights.count != lossTypes.count {
                issues.add(
                    .unsupported(
                        because:
                            "loss_weights must have the same length as loss_type: got \(lossWeights.count) weights for \(lossTypes.count) loss types"
                    ), at: Self.location(.lossWeights))
            } else if !lossWeights.allSatisfy(\.isFinite) {
                issues.add(.outOfRange(allowed: "finite numbers"), at: Self.location(.lossWeights))
            }
        }
        issues.requirePositive(beta, Self.location(.beta))
        issues.requireLabelSmoothing(labelSmoothing, Self.location(.labelSmoothing))
        if lossTypes.contains(.exoPair) && labelSmoothing == 0 {
            issues.add(
                .unsupported(because: "loss_type 'exo_pair' needs label_smoothing > 0 (the EXO paper recommends 1e-3)"),
                at: Self.location(.labelSmoothing))
        }
        if lossTypes.contains(.robust) && labelSmoothing == 0.5 {
            issues.add(
                .unsupported(
                    because: "loss_type 'robust' needs label_smoothing < 0.5: it divides by 1 - 2 label_smoothing"),
                at: Self.location(.labelSmoothing))
        }
        issues.requirePositive(discopopTau, Self.location(.discopopTau))
        if fDivergence != .reverseKL {
            let incompatible = lossTypes.filter { !DPOLossType.fDivergenceCompatible.contains($0) }
            if !incompatible.isEmpty {
                issues.add(
                    .unsupported(
                        because:
                            "f_divergence_type '\(fDivergence.rawValue)' is only supported for loss types \(DPOLossType.fDivergenceCompatible.map(\.rawValue).sorted()); not for \(incompatible.map(\.rawValue))"
                    ), at: Self.location(.fDivergenceType))
            }
        }
        issues.requireFinite(fAlphaDivergenceCoef, Self.location(.fAlphaDivergenceCoef))
        if let ldAlpha, !(ldAlpha >= 0 && ldAlpha <= 1) {
            issues.add(.outOfRange(allowed: "between 0 and 1, or null"), at: Self.location(.ldAlpha))
        }
        issues.requireNonNegative(dpopLambda, Self.location(.dpopLambda))
        if useWeighting, let reason = lossTypes.lazy.compactMap(\.wpoRefusal).first {
            issues.add(.unsupported(because: reason), at: Self.location(.useWeighting))
        }
    }
}

extension DPO: Objective {
    public var usesReferences: Bool { true }
    public var reduction: TokenReduction { ldAlpha.map { .lengthDesensitized(alpha: $0) } ?? .sum }
    public var logSumSqProbsUse: InputUse { useWeighting ? .required : .unused }

    public var perTokenRequirements: [PerTokenRequirement] {
        var requirements: [PerTokenRequirement] = []
        if let counting = lossTypes.first(where: \.countsTokens) {
            requirements.append(
                PerTokenRequirement(
                    sides: [.chosen, .rejected], parameter: Parameter.lossType.rawValue,
                    reason:
                        "loss_type '\(counting.rawValue)' divides by each row's token count, so needs per-token chosen and rejected log-probs"
                ))
        }
        if ldAlpha != nil {
            requirements.append(
                PerTokenRequirement(
                    sides: [.chosen, .rejected], parameter: Parameter.ldAlpha.rawValue,
                    reason:
                        "ld_alpha weighs tokens past the shorter response, so needs per-token chosen and rejected log-probs"
                ))
        }
        if useWeighting {
            requirements.append(
                PerTokenRequirement(
                    sides: [.chosen, .rejected], parameter: Parameter.useWeighting.rawValue,
                    reason:
                        "use_weighting averages each row's per-token log-probs, so needs per-token chosen and rejected log-probs"
                ))
        }
        return requirements
    }

    public var chosenTokenTerm: PerTokenRequirement? {
        lossTypes.contains(.sft)
            ? PerTokenRequirement(
                sides: [.chosen], parameter: Parameter.lossType.rawValue,
                reason: "loss_type 'sft' averages over chosen tokens, so needs per-token chosen log-probs") : nil
    }

    public func evaluate(_ batch: ReducedBatch) -> ObjectiveOutput {
        let size = batch.size
        let (c, r) = (batch.chosen.logps, batch.rejected.logps)
        let u = zip(c, batch.referenceChosen).map { $0 - $1 }
        let v = zip(r, batch.referenceRejected).map { $0 - $1 }
        let chosenScores = u.map { fDivergence.score($0, alphaCoefficient: fAlphaDivergenceCoef) }
        let rejectedScores = v.map { fDivergence.score($0, alphaCoefficient: fAlphaDivergenceCoef) }
        let input = DPOTermInput(
            parameters: self, chosenScores: chosenScores.map(\.value), rejectedScores: rejectedScores.map(\.value),
            chosen: c, rejected: r, referenceChosen: batch.referenceChosen, referenceRejected: batch.referenceRejected,
            chosenCounts: batch.chosenCounts, rejectedCounts: batch.rejectedCounts,
            chosenTokenTotals: batch.chosenTokenTotals)

        var output = ObjectiveOutput(
            losses: Array(repeating: 0, count: size),
            logits: zip(chosenScores, rejectedScores).map { $0.value - $1.value },
            chosenRewards: u.map { beta * $0 }, rejectedRewards: v.map { beta * $0 },
            chosenGradients: Array(repeating: 0, count: size), rejectedGradients: Array(repeating: 0, count: size))
        let count = Double(size)
        let reportsParts = self.reportsParts
        for (type, weight) in distinctWeightedTypes {
            var term = type.term(input)
            if let pairWeights = batch.pairWeights { term.weigh(by: pairWeights) }
            if reportsParts { output.lossesByType.append(TypeLosses(type: type.rawValue, losses: term.losses)) }
            for i in 0 ..< size {
                output.losses[i] += weight * term.losses[i]
                output.chosenGradients[i] += weight * term.chosenDerivatives[i] / count
                output.rejectedGradients[i] += weight * term.rejectedDerivatives[i] / count
            }
            output.chosenTokenCoefficient += weight * term.chosenTokenCoefficient
        }
        for i in 0 ..< size {
            output.chosenGradients[i] *= chosenScores[i].derivative
            output.rejectedGradients[i] *= rejectedScores[i].derivative
        }
        return output
    }

    public func warnings(_ metrics: RewardMetrics) -> [LossWarning] {
        var warnings: [LossWarning] = []
        let types = distinctWeightedTypes.map(\.type.rawValue)
        if labelSmoothing > 0 && !lossTypes.contains(where: \.usesLabelSmoothing) {
            warnings.append(
                warning(
                    "no_effect",
                    "label_smoothing is read by exo_pair, robust, aot and aot_unpaired only; \(types) ignore it (TRL 1.16's sigmoid has no label smoothing): drop it or add one of those types"
                ))
        }
        if discopopTau != DPO().discopopTau && !lossTypes.contains(.discopop) {
            warnings.append(
                warning("no_effect", "discopop_tau is read by loss_type 'discopop' only; \(types) ignore it: drop it"))
        }
        if dpopLambda != DPO().dpopLambda && !lossTypes.contains(.dpop) {
            warnings.append(
                warning("no_effect", "dpop_lambda is read by loss_type 'dpop' only; \(types) ignore it: drop it"))
        }
        if fAlphaDivergenceCoef != DPO().fAlphaDivergenceCoef && fDivergence != .alphaDivergence {
            warnings.append(
                warning(
                    "no_effect",
                    "f_alpha_divergence_coef is read by f_divergence_type 'alpha_divergence' only, not '\(fDivergence.rawValue)': drop it or set that divergence"
                ))
        }
        return warnings
    }
}
