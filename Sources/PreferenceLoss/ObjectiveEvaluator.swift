/// The batch as every objective sees it: each side reduced to sequence log-probs.
struct ReducedBatch {
    var chosen: ReducedSide
    var rejected: ReducedSide
    /// The reference sides' sequence log-probs, for objectives that use them.
    var referenceChosen: [Double]
    var referenceRejected: [Double]
    /// The chosen tokens a term on chosen tokens averages over: per row, how many and their sum.
    var chosenTermTokens: (counts: [Int], sums: [Double])
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
struct ObjectiveOutput {
    /// Each pair's preference loss (weighted over loss types); `preferenceLoss` is their mean.
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
    var nllLoss: Double?
    var logOddsRatio: Double?
    var logOddsChosen: Double?
}

/// Sides that an objective, or a parameter's setting, needs per token, e.g. to count tokens.
struct PerTokenRequirement {
    var sides: [SideName]
    /// The parameter whose setting needs them; nil when the objective always does, and the
    /// side itself is named.
    var parameter: LossParameter?
    var reason: String
}

/// What each objective provides to `evaluateLoss`.
protocol ObjectiveEvaluator: Sendable {
    var objective: Objective { get }
    /// Whether reference sides are required (true) or refused (false).
    var usesReferences: Bool { get }
    /// The term acting on chosen tokens directly (SFT, NLL), when there is one, as what it
    /// requires: a per-token chosen side. `chosenNLLMask` may then say which tokens it covers.
    var chosenTokenTerm: PerTokenRequirement? { get }
    /// How per-token sides reduce to sequence log-probs.
    var reduction: TokenReduction { get }
    /// Other policy sides that must come per token, with the parameter that needs them and why.
    var perTokenRequirements: [PerTokenRequirement] { get }
    /// Records sequence log-probs outside the objective's domain (ORPO's log(1 − e^c) needs c < 0).
    func checkDomain(_ batch: ReducedBatch, issues: inout IssueCollector)
    func evaluate(_ batch: ReducedBatch) -> ObjectiveOutput
    /// The objective's own warnings about a batch (its configuration, its typical ranges).
    func warnings(_ metrics: RewardMetrics) -> [LossWarning]
}

extension ObjectiveEvaluator {
    var perTokenRequirements: [PerTokenRequirement] { [] }
    func checkDomain(_ batch: ReducedBatch, issues: inout IssueCollector) {}

    /// A warning whose message says which objective it concerns.
    func warning(_ code: String, _ message: String) -> LossWarning {
        LossWarning(code: code, message: "objective '\(objective.rawValue)': \(message)")
    }
}

/// −log σ(x)(1 − ε) − log σ(−x)ε and its derivative in x: the label-smoothed sigmoid loss
/// that SimPO, CPO and DPO's aot types share.
func smoothedSigmoidLoss(_ x: Double, labelSmoothing epsilon: Double) -> (loss: Double, derivative: Double) {
    (-logSigmoid(x) * (1 - epsilon) - logSigmoid(-x) * epsilon,
     -sigmoid(-x) * (1 - epsilon) + sigmoid(x) * epsilon)
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
