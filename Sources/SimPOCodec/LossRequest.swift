import FastJSON
import PreferenceLoss

/// A decoded `POST /v1/loss` body.
public struct LossRequest: Sendable {
    public var configuration: LossConfiguration
    public var inputs: LossInputs
    public var returnTokenGradients: Bool
}

extension LossRequest {
    static let topLevelKeys = ["config", "chosen", "rejected", "reference_chosen", "reference_rejected", "return_token_grads"]
    static let sideKeys = ["logps", "per_token_logps", "mask", "labels"]

    /// Decodes and validates the request document, reporting every problem with
    /// its JSON pointer (configuration problems included).
    public init(json root: JSONValue) throws(LossInputError) {
        var issues = IssueCollector()
        guard root.kind == .object else {
            throw LossInputError([LossInputIssue(.wrongType(expected: "an object"), at: FieldPath())])
        }
        let fields = uniqueFields(of: root, at: FieldPath(), known: Self.topLevelKeys, issues: &issues)

        var configuration = LossConfiguration()
        if let config = fields["config"], config.kind != .null {
            configuration = decodeConfiguration(config, issues: &issues)
        }

        returnTokenGradients = false
        if let flag = fields["return_token_grads"], flag.kind != .null {
            if let value = flag.bool {
                returnTokenGradients = value
            } else {
                issues.add(.wrongType(expected: "a boolean"), at: FieldPath("return_token_grads"))
            }
        }

        self.configuration = configuration
        inputs = try assembleInputs(issues: &issues) { name, required, issues in
            guard let value = fields[name], value.kind != .null else {
                if required { issues.add(.missing(because: "every request has '\(name)'"), at: FieldPath(name)) }
                return nil
            }
            return decodeSide(value, at: FieldPath(name), issues: &issues)
        }
    }
}

/// The four sides, each decoded by `side(name, required, &issues)`; throws every issue
/// collected (the configuration's included) when there is any.
func assembleInputs(
    issues: inout IssueCollector, side: (String, Bool, inout IssueCollector) -> SideInput?
) throws(LossInputError) -> LossInputs {
    let chosen = side("chosen", true, &issues)
    let rejected = side("rejected", true, &issues)
    let referenceChosen = side("reference_chosen", false, &issues)
    let referenceRejected = side("reference_rejected", false, &issues)
    guard issues.isEmpty, let chosen, let rejected else { throw LossInputError(issues.issues) }
    return LossInputs(chosen: chosen, rejected: rejected, referenceChosen: referenceChosen, referenceRejected: referenceRejected)
}

/// The `config` object (defaults where it is not one, after recording why).
func decodeConfiguration(_ config: JSONValue, issues: inout IssueCollector) -> LossConfiguration {
    guard config.kind == .object else {
        issues.add(.wrongType(expected: "an object"), at: FieldPath("config"))
        return LossConfiguration()
    }
    do {
        return try LossConfiguration(parsing: config.fields.map { (key: $0.key, value: ConfigValue($0.value)) })
    } catch {
        issues.add(contentsOf: error)
        return LossConfiguration()
    }
}

/// The fields of `object` by key, recording unknown and duplicate keys.
func uniqueFields(of object: JSONValue, at path: FieldPath, known: [String], issues: inout IssueCollector) -> [String: JSONValue] {
    var fields: [String: JSONValue] = [:]
    for (key, value) in object.fields {
        if !known.contains(key) {
            issues.add(.unknownKey(suggestion: closestMatch(to: key, among: known)), at: path.key(key))
        } else if fields.updateValue(value, forKey: key) != nil {
            issues.add(.duplicateKey, at: path.key(key))
        }
    }
    return fields
}

/// One side: `{"logps": [...]}` or `{"per_token_logps": [[...]], "mask" | "labels": [[...]]}`.
private func decodeSide(_ value: JSONValue, at path: FieldPath, issues: inout IssueCollector) -> SideInput? {
    guard value.kind == .object else {
        issues.add(.wrongType(expected: "an object"), at: path)
        return nil
    }
    let fields = uniqueFields(of: value, at: path, known: LossRequest.sideKeys, issues: &issues)
    let selectionKeys = ["mask", "labels"].filter { fields[$0] != nil }
    switch (fields["logps"], fields["per_token_logps"]) {
    case (let logps?, nil):
        for key in selectionKeys {
            issues.add(.notApplicable(because: "'\(key)' goes with 'per_token_logps'"), at: path.key(key))
        }
        var values: [Double] = []
        guard decodeNumbers(logps, into: &values, at: path.key("logps"), issues: &issues) else { return nil }
        return .sequenceLogps(values)
    case (nil, let tokens?):
        if selectionKeys.count == 2 {
            issues.add(.conflicts(with: "mask"), at: path.key("labels"))
            return nil
        }
        guard let rows = decodeRows(tokens, at: path.key("per_token_logps"), issues: &issues, element: decodeNumbers) else { return nil }
        if let mask = fields["mask"] {
            return decodeRows(mask, at: path.key("mask"), issues: &issues, element: decodeMaskRow).map { .tokenLogps(rows, selection: .mask($0)) }
        }
        if let labels = fields["labels"] {
            return decodeRows(labels, at: path.key("labels"), issues: &issues, element: decodeLabelRow).map { .tokenLogps(rows, selection: .labels($0)) }
        }
        return .tokenLogps(rows, selection: .all)
    case (.some, .some):
        issues.add(.conflicts(with: "logps"), at: path.key("per_token_logps"))
    case (nil, nil):
        issues.add(.missing(because: "a side has 'logps' or 'per_token_logps'"), at: path)
    }
    return nil
}

/// An array of arrays, each decoded by `element` into one row.
private func decodeRows<T>(
    _ value: JSONValue, at path: FieldPath, issues: inout IssueCollector,
    element: (JSONValue, inout [T], FieldPath, inout IssueCollector) -> Bool
) -> RaggedRows<T>? {
    guard value.kind == .array else {
        issues.add(.wrongType(expected: "an array of arrays"), at: path)
        return nil
    }
    var values: [T] = []
    var offsets = [0]
    var valid = true
    for (index, row) in value.elements.enumerated() {
        if !element(row, &values, path.index(index), &issues) {
            valid = false
            if issues.isFull { break }
        }
        offsets.append(values.count)
    }
    return valid ? RaggedRows(values: values, rowOffsets: offsets) : nil
}

/// Appends an array of numbers to `values`; false after recording why not.
private func decodeNumbers(_ value: JSONValue, into values: inout [Double], at path: FieldPath, issues: inout IssueCollector) -> Bool {
    guard value.kind == .array else {
        issues.add(.wrongType(expected: "an array of numbers"), at: path)
        return false
    }
    if let bad = value.appendNumbers(to: &values) {
        issues.add(.wrongType(expected: "a number"), at: path.index(bad))
        return false
    }
    return true
}

/// Appends a mask row: booleans, or the integers 0 and 1 (bulk paths first; mixed
/// rows element by element).
private func decodeMaskRow(_ value: JSONValue, into values: inout [Bool], at path: FieldPath, issues: inout IssueCollector) -> Bool {
    if value.kind == .array {
        if value.appendBools(to: &values) == nil { return true }
        var integers: [Int64] = []
        if value.appendIntegers(to: &integers) == nil, integers.allSatisfy({ $0 == 0 || $0 == 1 }) {
            values.append(contentsOf: integers.lazy.map { $0 == 1 })
            return true
        }
    }
    guard value.kind == .array else {
        issues.add(.wrongType(expected: "an array"), at: path)
        return false
    }
    for (index, item) in value.elements.enumerated() {
        switch (item.bool, item.int64) {
        case (let flag?, _): values.append(flag)
        case (nil, 0): values.append(false)
        case (nil, 1): values.append(true)
        default:
            issues.add(.wrongType(expected: "0, 1, true or false"), at: path.index(index))
            return false
        }
    }
    return true
}

/// Appends a labels row (64-bit integers).
private func decodeLabelRow(_ value: JSONValue, into values: inout [Int64], at path: FieldPath, issues: inout IssueCollector) -> Bool {
    guard value.kind == .array else {
        issues.add(.wrongType(expected: "an array"), at: path)
        return false
    }
    if let bad = value.appendIntegers(to: &values) {
        issues.add(.wrongType(expected: "an integer"), at: path.index(bad))
        return false
    }
    return true
}

extension ConfigValue {
    /// The configuration value a JSON value carries.
    init(_ value: JSONValue) {
        switch value.kind {
        case .integer: self = .integer(value.int64 ?? 0)
        case .unsignedInteger, .double: self = .number(value.double ?? 0)
        case .string: self = .string(value.string ?? "")
        case .bool: self = .bool(value.bool ?? false)
        case .null: self = .null
        case .array: self = .array
        case .object: self = .object
        }
    }
}
