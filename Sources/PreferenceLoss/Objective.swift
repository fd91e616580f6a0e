/// The batch as every objective sees it: each side reduced to sequence log-probs.
public struct ReducedBatch: Sendable {
    var chosen: ReducedSide
    var rejected: ReducedSide
    /// The reference sides' sequence log-probs, for objectives that use them.
    var referenceChosen: [Double]
    var referenceRejected: [Double]
    /// The chosen tokens a term on chosen tokens averages over: per row, how many and their sum.
    var chosenTermTokens: (counts: [Int], sums: [Double])
    /// KTO's KL reference point, clamped at 0; 0 when none was sent.
    var kl = 0.0
    /// WPO's weight of each pair, when the objective weighs pairs.
    var pairWeights: [Double]?
    var size: Int { chosen.logps.count }

    /// Per row, the number of selected tokens of a per-token side.
    var chosenCounts: [Double] { (chosen.selectedCounts ?? []).map(Double.init) }
    var rejectedCounts: [Double] { (rejected.selectedCounts ?? []).map(Double.init) }

    /// How many chosen tokens a term on chosen tokens averages over in the batch, and their sum.
    var chosenTokenTotals: (count: Double, sum: Double) {
        (Double(chosenTermTokens.counts.reduce(0, +)), chosenTermTokens.sums.reduce(0, +))
    }
}

/// An objective's loss of one batch, before the shared bookkeeping (token gradients,
/// metrics, finiteness) that `evaluateLoss` does.
public struct ObjectiveOutput: Sendable {
    /// Each pair's preference loss (weighted over loss types), or each unpaired completion's
    /// (chosen rows, then rejected rows); `preferenceLoss` is their mean.
    var losses: [Double]
    var logits: [Double]
    var chosenRewards: [Double]
    var rejectedRewards: [Double]
    /// ∂loss/∂(sequence log-prob) through the reduction, per pair.
    var chosenGradients: [Double]
    var rejectedGradients: [Double]
    /// The term that acts on chosen tokens directly (SFT or NLL), before weighting.
    var sftLoss = 0.0
    var sftWeight = 0.0
    /// Added to the gradient of every selected chosen token: a direct term such as −weight/N.
    var chosenTokenCoefficient = 0.0
    /// The parts of a combined loss, when there are several.
    var lossesByType: [TypeLosses] = []
    /// Objective-specific batch metrics.
    var kl: Double?
    var nllLoss: Double?
    var logOddsRatio: Double?
    var logOddsChosen: Double?
}

/// Sides that an objective, or a parameter's setting, needs per token, e.g. to count tokens.
public struct PerTokenRequirement: Sendable {
    var sides: [Side]
    /// The parameter whose setting needs them; nil when the objective always does, and the
    /// side itself is named.
    var parameter: String?
    var reason: String
}

/// What an objective does with an optional input: KTO's KL reference point, or WPO's per-token
/// log Σ p².
public enum InputUse: Sendable {
    /// Needs it.
    case required
    /// Reads none: one sent has no effect (a `no_effect` warning).
    case unused
    /// Has no term that reads it: one sent is refused.
    case refused
}

/// A preference objective, as one unit: its parameters with the reference code's defaults
/// (`init()`), their checks, what it requires of its inputs, and its loss.
///
/// `evaluateLoss` does what every objective shares (reducing tokens, spreading gradients,
/// metrics, warnings); the types an objective works with are this library's own, so the
/// objectives are the ones it defines.
public protocol Objective: Sendable, Equatable {
    /// The parameters, named as the objective's reference code names them.
    associatedtype Parameter: RawRepresentable, CaseIterable, Sendable where Parameter.RawValue == String

    /// The objective's name, e.g. `dpo`.
    static var name: String { get }

    /// The reference code's defaults.
    init()

    /// Records every parameter that is out of range or that the reference code refuses.
    func validate(_ issues: inout IssueCollector<InputLocation>)

    /// Whether reference sides are required (true) or refused (false).
    var usesReferences: Bool { get }
    /// Whether chosen and rejected rows come in pairs (true), or are unpaired desirable and
    /// undesirable completions of any numbers, each side with its own reference (false).
    var isPaired: Bool { get }
    /// What the objective does with a KL reference point.
    var klUse: InputUse { get }
    /// What the objective does with the policy's per-token log Σ p² (WPO's weights).
    var logSumSqProbsUse: InputUse { get }
    /// The term acting on chosen tokens directly (SFT, NLL), when there is one, as what it
    /// requires: a per-token chosen side. `chosenNLLMask` may then say which tokens it covers.
    var chosenTokenTerm: PerTokenRequirement? { get }
    /// How per-token sides reduce to sequence log-probs.
    var reduction: TokenReduction { get }
    /// Other policy sides that must come per token, with the parameter that needs them and why.
    var perTokenRequirements: [PerTokenRequirement] { get }
    /// How many per-pair arrays `LossResult.lossesByType` will hold.
    var lossTypeParts: Int { get }

    /// Records sequence log-probs outside the objective's domain (ORPO's log(1 − e^c) needs c < 0).
    func checkDomain(_ batch: ReducedBatch, issues: inout IssueCollector<InputLocation>)
    func evaluate(_ batch: ReducedBatch) -> ObjectiveOutput
    /// The objective's own warnings about a batch (its configuration, its typical ranges).
    func warnings(_ metrics: RewardMetrics) -> [LossWarning]
}

extension Objective {
    public var isPaired: Bool { true }
    public var klUse: InputUse { .refused }
    public var logSumSqProbsUse: InputUse { .refused }
    public var perTokenRequirements: [PerTokenRequirement] { [] }
    public var lossTypeParts: Int { 0 }
    public func checkDomain(_ batch: ReducedBatch, issues: inout IssueCollector<InputLocation>) {}

    /// The objective's name, e.g. `dpo`.
    public var name: String { Self.name }

    /// How per-token log-probs become sequence log-probs: `mean`, `sum`, or
    /// `length_desensitized` (LD-DPO's `ld_alpha` weighting).
    public var averaging: String {
        switch reduction {
        case .mean: return "mean"
        case .sum: return "sum"
        case .lengthDesensitized: return "length_desensitized"
        }
    }

    /// Whether `other` is this objective with the same parameters.
    public func isEqual(to other: any Objective) -> Bool {
        (other as? Self) == self
    }

    /// Where issues with `parameter` are reported.
    static func location(_ parameter: Parameter) -> InputLocation { .parameter(parameter.rawValue) }

    /// A warning whose message says which objective it concerns.
    func warning(_ code: String, _ message: String) -> LossWarning {
        LossWarning(code: code, message: "objective '\(name)': \(message)")
    }
}

/// −log σ(x)(1 − ε) − log σ(−x)ε and its derivative in x: the label-smoothed sigmoid loss
/// that SimPO, CPO and DPO's aot types share.
func smoothedSigmoidLoss(_ x: Double, labelSmoothing epsilon: Double) -> (loss: Double, derivative: Double) {
    (
        -logSigmoid(x) * (1 - epsilon) - logSigmoid(-x) * epsilon,
        -sigmoid(-x) * (1 - epsilon) + sigmoid(x) * epsilon
    )
}

/// relu(1 − x) and its derivative in x, 0 at the kink as torch's relu.
func hingeLoss(_ x: Double) -> (loss: Double, derivative: Double) {
    let slack = 1 - x
    return (max(slack, 0), slack > 0 ? -1 : 0)
}

/// The mean over the batch.
func mean(_ values: [Double]) -> Double {
    values.reduce(0, +) / Double(values.count)
}
