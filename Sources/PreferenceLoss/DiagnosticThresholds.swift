/// When the batch and trend warnings fire. Each threshold is a configuration key that every
/// objective accepts, reported at `InputLocation.threshold(_:)`.
public struct DiagnosticThresholds: Equatable, Sendable {
    /// `length_imbalance` fires when the batch's chosen-over-rejected token ratio is at least
    /// this, or at most its inverse. Greater than 1.
    public var lengthImbalanceRatio = 2.0
    /// `single_token_rows` fires when more than this fraction of per-token policy rows select
    /// exactly one token. In [0, 1).
    public var singleTokenRowsFraction = 0.0
    /// `bf16_inputs` looks at batches with at least this many selected policy tokens, so that
    /// a handful of round numbers does not trigger it. At least 1.
    public var bf16MinimumTokens = 64
    /// `loss_stuck` fires when a run's recent losses span at most this. At least 0.
    public var lossStuckTolerance = 1e-9

    /// The documented defaults.
    public init() {}

    func validate(_ issues: inout IssueCollector<InputLocation>) {
        if !(lengthImbalanceRatio > 1 && lengthImbalanceRatio.isFinite) {
            issues.add(.outOfRange(allowed: "a finite number > 1"), at: .threshold(.lengthImbalanceRatio))
        }
        if !(singleTokenRowsFraction >= 0 && singleTokenRowsFraction < 1) {
            issues.add(.outOfRange(allowed: "a number >= 0 and < 1"), at: .threshold(.singleTokenRowsFraction))
        }
        if bf16MinimumTokens < 1 {
            issues.add(.outOfRange(allowed: "an integer >= 1"), at: .threshold(.bf16MinimumTokens))
        }
        if !(lossStuckTolerance >= 0 && lossStuckTolerance.isFinite) {
            issues.add(.outOfRange(allowed: "a finite number >= 0"), at: .threshold(.lossStuckTolerance))
        }
    }
}

/// A diagnostic threshold, by its name (a configuration key of every objective).
public enum DiagnosticThreshold: String, CaseIterable, Sendable {
    case lengthImbalanceRatio = "length_imbalance_ratio"
    case singleTokenRowsFraction = "single_token_rows_fraction"
    case bf16MinimumTokens = "bf16_min_tokens"
    case lossStuckTolerance = "loss_stuck_tolerance"
}
