/// One step of a training run (a batch, or its parts combined), as the trend warnings see it.
public struct BatchSummary: Equatable, Sendable {
    public var loss: Double
    public var margin: Double
    public var accuracy: Double
    public var chosenLogp: Double
    public var rejectedLogp: Double
    public var chosenReward: Double
    public var rejectedReward: Double

    public init(
        loss: Double, margin: Double, accuracy: Double, chosenLogp: Double, rejectedLogp: Double, chosenReward: Double,
        rejectedReward: Double
    ) {
        self.loss = loss
        self.margin = margin
        self.accuracy = accuracy
        self.chosenLogp = chosenLogp
        self.rejectedLogp = rejectedLogp
        self.chosenReward = chosenReward
        self.rejectedReward = rejectedReward
    }

    /// The batch's loss and batch means; NaN for a mean the batch has none of (KTO's accuracy,
    /// and the means of an empty side).
    public init(_ result: LossResult) {
        let metrics = result.metrics
        self.init(
            loss: result.loss, margin: metrics.margin ?? .nan, accuracy: metrics.accuracy ?? .nan,
            chosenLogp: metrics.chosenLogp ?? .nan, rejectedLogp: metrics.rejectedLogp ?? .nan,
            chosenReward: metrics.chosenReward ?? .nan, rejectedReward: metrics.rejectedReward ?? .nan)
    }
}

/// How many standard errors a least-squares slope must be from 0 to count as a trend
/// (about a 95% one-sided test for a window of eight steps).
public let trendSignificance = 2.0

/// The warnings that need a run's history: `chosen_logps_falling`, `rewards_collapse` and
/// `loss_stuck`, over `window` (oldest first). A quantity rises or falls when its
/// least-squares slope over the window is `trendSignificance` standard errors from 0.
/// Needs at least 3 steps; fewer give none.
public func trendWarnings(_ window: [BatchSummary], thresholds: DiagnosticThresholds) -> [LossWarning] {
    let count = window.count
    guard count >= 3 else { return [] }
    var warnings: [LossWarning] = []
    let chosenLogp = trend(window.map(\.chosenLogp)), margin = trend(window.map(\.margin))
    if chosenLogp < -trendSignificance && margin > trendSignificance {
        warnings.append(
            LossWarning(
                code: "chosen_logps_falling",
                message:
                    "the chosen log-prob fell over the last \(count) steps while the reward margin rose: both responses are being pushed down; add an SFT or NLL term (sft_weight, cpo_alpha, loss_type 'sft'), lower the learning rate or raise beta"
            ))
    }
    if trend(window.map(\.chosenReward)) < -trendSignificance
        && trend(window.map(\.rejectedReward)) < -trendSignificance
    {
        warnings.append(
            LossWarning(
                code: "rewards_collapse",
                message:
                    "chosen and rejected rewards both fell over the last \(count) steps: the policy is moving away from both responses; add an SFT or NLL term, lower the learning rate or raise beta"
            ))
    }
    let losses = window.map(\.loss)
    if let lowest = losses.min(), let highest = losses.max(), highest - lowest <= thresholds.lossStuckTolerance {
        warnings.append(
            LossWarning(
                code: "loss_stuck",
                message:
                    "the loss stayed within \(thresholds.lossStuckTolerance) over the last \(count) steps: check that the optimizer steps, that gradients reach the model and that log-probs are recomputed for each batch"
            ))
    }
    return warnings
}

/// The least-squares slope of `values` against their index, in standard errors: ±infinity for
/// an exact line; 0 when the fitted change over the window is within rounding of constant.
func trend(_ values: [Double]) -> Double {
    let n = Double(values.count)
    let meanX = (n - 1) / 2
    let meanY = values.reduce(0, +) / n
    var sxx = 0.0, sxy = 0.0
    for (index, value) in values.enumerated() {
        let dx = Double(index) - meanX
        sxx += dx * dx
        sxy += dx * (value - meanY)
    }
    let slope = sxy / sxx
    let scale = values.reduce(1) { max($0, abs($1)) }
    guard abs(slope) * (n - 1) > 1e-12 * scale else { return 0 }
    let intercept = meanY - slope * meanX
    var residuals = 0.0
    for (index, value) in values.enumerated() {
        let residual = value - (intercept + slope * Double(index))
        residuals += residual * residual
    }
    let standardError = (residuals / (n - 2) / sxx).squareRoot()
    return slope / standardError
}
