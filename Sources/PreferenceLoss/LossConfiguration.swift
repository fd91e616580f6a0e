/// The trainer whose loss is evaluated.
public enum Objective: String, CaseIterable, Sendable {
    /// princeton-nlp/SimPO: reference-free, length-normalised, with a target margin.
    case simpo
    /// TRL's DPOTrainer: its fifteen loss types, alone or weighted together.
    case dpo
    /// TRL's CPOTrainer: CPO, SimPO-in-CPO and AlphaPO, with an NLL term.
    case cpo
    /// TRL's ORPOTrainer: NLL minus λ·log σ(log odds ratio).
    case orpo
}

/// The registry of objectives: which one, with its parameters.
public enum LossConfiguration: Equatable, Sendable {
    case simpo(SimPO)
    case dpo(DPO)
    case cpo(CPO)
    case orpo(ORPO)

    /// The objective's defaults.
    public init(objective: Objective = .simpo) {
        switch objective {
        case .simpo: self = .simpo(SimPO())
        case .dpo: self = .dpo(DPO())
        case .cpo: self = .cpo(CPO())
        case .orpo: self = .orpo(ORPO())
        }
    }

    public var objective: Objective {
        switch self {
        case .simpo: return .simpo
        case .dpo: return .dpo
        case .cpo: return .cpo
        case .orpo: return .orpo
        }
    }

    /// The range checks and TRL's refusals, each at `FieldPath.parameter(_:)`.
    public func validate() throws(LossInputError) {
        var issues = IssueCollector()
        switch self {
        case .simpo(let parameters): parameters.validate(&issues)
        case .dpo(let parameters): parameters.validate(&issues)
        case .cpo(let parameters): parameters.validate(&issues)
        case .orpo(let parameters): parameters.validate(&issues)
        }
        try issues.throwIfAny()
    }

    /// How per-token log-probs become sequence log-probs under this configuration: `mean`,
    /// `sum`, or `length_desensitized` (LD-DPO's `ld_alpha` weighting).
    public var averaging: String {
        switch evaluator.reduction {
        case .mean: return "mean"
        case .sum: return "sum"
        case .lengthDesensitized: return "length_desensitized"
        }
    }

    /// How many per-pair arrays `LossResult.lossesByType` will hold: one per distinct DPO loss
    /// type when there are two or more, else none.
    public var lossTypeParts: Int {
        guard case .dpo(let parameters) = self, parameters.reportsParts else { return 0 }
        return parameters.distinctWeightedTypes.count
    }

    /// The objective that evaluates this configuration.
    var evaluator: any ObjectiveEvaluator {
        switch self {
        case .simpo(let parameters): return parameters
        case .dpo(let parameters): return parameters
        case .cpo(let parameters): return parameters
        case .orpo(let parameters): return parameters
        }
    }
}

/// Range checks shared by the objectives' parameters.
extension IssueCollector {
    /// Records `parameter` unless `value` is finite and > 0.
    mutating func requirePositive(_ value: Double, _ parameter: LossParameter) {
        if !(value > 0 && value.isFinite) { add(.outOfRange(allowed: "a finite number > 0"), at: .parameter(parameter)) }
    }

    /// Records `parameter` unless `value` is finite and ≥ 0.
    mutating func requireNonNegative(_ value: Double, _ parameter: LossParameter) {
        if !(value >= 0 && value.isFinite) { add(.outOfRange(allowed: "a finite number >= 0"), at: .parameter(parameter)) }
    }

    /// Records `parameter` unless `value` is finite.
    mutating func requireFinite(_ value: Double, _ parameter: LossParameter) {
        if !value.isFinite { add(.outOfRange(allowed: "a finite number"), at: .parameter(parameter)) }
    }

    /// Records `label_smoothing` unless it lies in [0, 0.5].
    mutating func requireLabelSmoothing(_ value: Double) {
        if !(value >= 0 && value <= 0.5) { add(.outOfRange(allowed: "between 0 and 0.5"), at: .parameter(.labelSmoothing)) }
    }
}
