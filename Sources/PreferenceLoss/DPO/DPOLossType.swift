/// The loss types of TRL 1.16's DPOTrainer, by TRL's names.
public enum DPOLossType: String, CaseIterable, Sendable {
    case sigmoid
    case hinge
    case ipo
    case exoPair = "exo_pair"
    case ncaPair = "nca_pair"
    case robust
    case bcoPair = "bco_pair"
    case sppoHard = "sppo_hard"
    case aot
    case aotUnpaired = "aot_unpaired"
    case apoZero = "apo_zero"
    case apoDown = "apo_down"
    case discopop
    case sft
    case sigmoidNorm = "sigmoid_norm"
    /// DPO-Positive: PaddleNLP's `dpop`, not a TRL type.
    case dpop

    /// The types TRL lets an f-divergence other than reverse KL reshape.
    static let fDivergenceCompatible: Set<DPOLossType> = [
        .sigmoid, .sigmoidNorm, .hinge, .ipo, .exoPair, .robust, .discopop, .sft,
    ]

    /// Whether the type counts each row's selected tokens, so needs per-token sides.
    var countsTokens: Bool { self == .ipo || self == .sigmoidNorm }

    /// Whether the type reads `label_smoothing` (TRL 1.16's sigmoid does not).
    var usesLabelSmoothing: Bool { [.exoPair, .robust, .aot, .aotUnpaired].contains(self) }

    /// Why TRL 1.16 cannot weigh this type's losses by WPO's weights, when it cannot: it refuses
    /// the types that sort the batch, and fails on the two whose losses it multiplies in place.
    var wpoRefusal: String? {
        switch self {
        case .aot, .aotUnpaired:
            return "WPO weighting is not implemented for 'aot' or 'aot_unpaired', which sort samples"
        case .sft:
            return
                "TRL 1.16 cannot apply WPO weighting to loss_type 'sft': it multiplies the loss, an expanded view, in place, which torch refuses"
        case .hinge:
            return
                "TRL 1.16 cannot train loss_type 'hinge' with WPO weighting: it multiplies relu's output in place, which the backward pass needs"
        default:
            return nil
        }
    }

    /// This type's per-row losses and derivatives.
    func term(_ input: DPOTermInput) -> DPOTerm {
        switch self {
        case .sigmoid, .hinge, .exoPair, .robust, .discopop: return marginTerm(self, input)
        case .ipo, .sigmoidNorm: return lengthNormalizedTerm(self, input)
        case .ncaPair, .bcoPair, .sppoHard, .apoZero, .apoDown: return perSideTerm(self, input)
        case .aot, .aotUnpaired: return rankedTerm(self, input)
        case .sft: return sftTerm(self, input)
        case .dpop: return positiveTerm(input)
        }
    }
}

/// What a DPO loss type reads: the batch's scores, log-ratios and counts, and the parameters.
struct DPOTermInput {
    var parameters: DPO
    /// f(u) and f(v): the f-divergence's scores of the chosen and rejected log-ratios.
    var chosenScores: [Double]
    var rejectedScores: [Double]
    /// Policy and reference sequence log-probs.
    var chosen: [Double]
    var rejected: [Double]
    var referenceChosen: [Double]
    var referenceRejected: [Double]
    /// Selected tokens per row (per-token sides only).
    var chosenCounts: [Double]
    var rejectedCounts: [Double]
    /// The batch's selected chosen tokens: how many, and their log-probs' sum.
    var chosenTokenTotals: (count: Double, sum: Double)

    var beta: Double { parameters.beta }
    var size: Int { chosen.count }
}

/// One loss type's contribution: its per-row losses and their derivatives in the scores.
struct DPOTerm {
    /// Per pair, or per rank for the types that sort the batch.
    var losses: [Double]
    /// ∂(Σ losses)/∂(chosen score of row i) and likewise for rejected.
    var chosenDerivatives: [Double]
    var rejectedDerivatives: [Double]
    /// ∂(mean loss)/∂(each selected chosen token), for the term acting on tokens directly.
    var chosenTokenCoefficient = 0.0
}

extension DPOTerm {
    /// WPO: each pair's loss and derivatives times its weight, a constant. (sft, the term acting
    /// on tokens directly, is never weighted: `wpoRefusal`.)
    mutating func weigh(by weights: [Double]) {
        for i in losses.indices {
            losses[i] *= weights[i]
            chosenDerivatives[i] *= weights[i]
            rejectedDerivatives[i] *= weights[i]
        }
    }
}
