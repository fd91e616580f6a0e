/// Why an input or configuration value was refused.
public enum IssueReason: Hashable, Sendable {
    /// A key that is not part of the input; `suggestion` is the closest known key.
    case unknownKey(suggestion: String?)
    /// The same key appears twice in one object.
    case duplicateKey
    /// The value has the wrong JSON type.
    case wrongType(expected: String)
    /// A string outside its set of allowed values.
    case invalidChoice(allowed: [String])
    /// A number outside its allowed range, described in words.
    case outOfRange(allowed: String)
    /// Two keys that may not be given together.
    case conflicts(with: String)
    /// A key that has no meaning for this configuration.
    case notApplicable(because: String)
    /// A setting the trainer itself refuses, or that the service cannot honour.
    case unsupported(because: String)
    /// A required input is absent.
    case missing(because: String)
    /// The batch has no rows.
    case emptyBatch
    /// A side's batch size differs from the chosen side's.
    case batchSizeMismatch(expected: Int, actual: Int)
    /// A reference side's batch size differs from its policy side's (unpaired sides, KL completions).
    case referenceSizeMismatch(expected: Int, actual: Int)
    /// A token selection whose row count differs from its per-token log-probs.
    case rowCountMismatch(expected: Int, actual: Int)
    /// A per-token row with no tokens at all.
    case emptyRow
    /// A token selection row whose length differs from its log-prob row.
    case rowLengthMismatch(expected: Int, actual: Int)
    /// A row whose mask or labels select no token, so its mean is 0/0.
    case noSelectedTokens
    /// NaN or an infinity.
    case nonFinite
    /// A result left the range of Double.
    case overflow
}

extension IssueReason {
    /// A one-sentence explanation for people.
    public var message: String {
        switch self {
        case .unknownKey(let suggestion):
            return "unknown key" + (suggestion.map { "; did you mean '\($0)'?" } ?? "")
        case .duplicateKey:
            return "key given more than once"
        case .wrongType(let expected):
            return "expected \(expected)"
        case .invalidChoice(let allowed):
            return "must be one of " + allowed.map { "'\($0)'" }.joined(separator: ", ")
        case .outOfRange(let allowed):
            return "out of range: must be \(allowed)"
        case .conflicts(let other):
            return "cannot be given together with '\(other)'; give exactly one"
        case .notApplicable(let because):
            return "not applicable: \(because)"
        case .unsupported(let because):
            return "not supported: \(because)"
        case .missing(let because):
            return "missing: \(because)"
        case .emptyBatch:
            return "batch is empty: at least one pair is required (one completion when unpaired)"
        case .batchSizeMismatch(let expected, let actual):
            return "has \(actual) rows but chosen has \(expected)"
        case .referenceSizeMismatch(let expected, let actual):
            return "has \(actual) rows but its policy side has \(expected)"
        case .rowCountMismatch(let expected, let actual):
            return "has \(actual) rows but its per-token log-probs have \(expected)"
        case .emptyRow:
            return "row has no tokens"
        case .rowLengthMismatch(let expected, let actual):
            return "row has \(actual) entries but its per-token log-prob row has \(expected)"
        case .noSelectedTokens:
            return "row selects no token (all masked, e.g. a truncated response): its log-prob would be NaN"
        case .nonFinite:
            return "value is not finite (NaN or infinity)"
        case .overflow:
            return
                "result is not finite in double precision: log-probs or parameters (beta, alpha, loss_weights) of this magnitude are not meaningful"
        }
    }
}
