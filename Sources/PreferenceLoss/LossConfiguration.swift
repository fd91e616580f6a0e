/// An objective whose parameters passed their checks, with the thresholds of its warnings:
/// what `evaluateLoss` evaluates. Made only by checking, so the checks run once.
public struct LossConfiguration: Sendable {
    public let objective: any Objective
    public let thresholds: DiagnosticThresholds

    /// Checks the objective's parameters and the thresholds.
    /// - Throws: every parameter and threshold out of range or refused.
    public init(
        _ objective: any Objective, thresholds: DiagnosticThresholds = DiagnosticThresholds()
    ) throws(LossInputError) {
        var issues = IssueCollector<InputLocation>()
        objective.validate(&issues)
        thresholds.validate(&issues)
        try issues.throwIfAny()
        self.objective = objective
        self.thresholds = thresholds
    }

    /// The defaults of `objective` and of the thresholds, which pass the checks (each
    /// objective's tests show that its defaults do).
    public init(defaultsOf objective: any Objective.Type) {
        self.objective = objective.init()
        thresholds = DiagnosticThresholds()
    }
}

extension LossConfiguration: Equatable {
    public static func == (lhs: LossConfiguration, rhs: LossConfiguration) -> Bool {
        lhs.objective.isEqual(to: rhs.objective) && lhs.thresholds == rhs.thresholds
    }
}

/// Range checks shared by the objectives' parameters.
extension IssueCollector<InputLocation> {
    /// Records `parameter` unless `value` is finite and > 0.
    mutating func requirePositive(_ value: Double, _ location: InputLocation) {
        if !(value > 0 && value.isFinite) { add(.outOfRange(allowed: "a finite number > 0"), at: location) }
    }

    /// Records `parameter` unless `value` is finite and ≥ 0.
    mutating func requireNonNegative(_ value: Double, _ location: InputLocation) {
        if !(value >= 0 && value.isFinite) { add(.outOfRange(allowed: "a finite number >= 0"), at: location) }
    }

    /// Records `parameter` unless `value` is finite.
    mutating func requireFinite(_ value: Double, _ location: InputLocation) {
        if !value.isFinite { add(.outOfRange(allowed: "a finite number"), at: location) }
    }

    /// Records `location` unless `value`, a label smoothing ε, lies in [0, 0.5].
    mutating func requireLabelSmoothing(_ value: Double, _ location: InputLocation) {
        if !(value >= 0 && value <= 0.5) { add(.outOfRange(allowed: "between 0 and 0.5"), at: location) }
    }
}
