import FastJSON
import PreferenceLoss

/// A decoded `POST /v1/loss` body.
public struct LossRequest: Sendable {
    public var configuration: RequestConfiguration
    public var inputs: LossInputs
    public var returnTokenGradients: Bool

    public init(configuration: RequestConfiguration, inputs: LossInputs, returnTokenGradients: Bool = false) {
        self.configuration = configuration
        self.inputs = inputs
        self.returnTokenGradients = returnTokenGradients
    }

    /// Evaluates the loss this request asks for, stopping between its passes once `cancellation` is set.
    /// - Throws: the loss's `LossInputError` as a `RequestError`, each issue at the JSON pointer of
    ///   what it is about; `CancellationError` once `cancellation` is set.
    public func evaluate(cancellation: CancellationFlag? = nil) throws -> LossResult {
        do {
            return try evaluateLoss(
                inputs, configuration: configuration.loss, tokenGradients: returnTokenGradients,
                cancellation: cancellation)
        } catch let error as LossInputError {
            throw RequestError(error.issues.map { RequestIssue($0.reason, at: FieldPath($0.location, in: inputs)) })
        }
    }
}

/// The top-level keys of a request other than the sides.
enum RequestKey: String, CaseIterable {
    case config
    case returnTokenGradients = "return_token_grads"
    case klValue = "kl_value"

    static var names: [String] { allCases.map(\.rawValue) + Side.keys }
}

extension LossRequest {
    /// Decodes and validates the request document, reporting every problem with
    /// its JSON pointer (configuration problems included). Once `cancellation` is set, rows are
    /// no longer decoded: what is thrown or returned then is incomplete.
    public init(json root: JSONValue, cancellation: CancellationFlag? = nil) throws(RequestError) {
        try self.init(json: RequestHead(json: root), cancellation: cancellation)
    }

    /// Decodes the sides of a document whose head is read.
    init(json head: RequestHead<JSONValue>, cancellation: CancellationFlag?) throws(RequestError) {
        var issues = head.issues
        guard head.isObject else { throw RequestError(issues.issues) }
        let fields = head.fields
        configuration = head.configuration
        returnTokenGradients = head.returnTokenGradients
        let pad = configuration.labelPadTokenID
        inputs = try assembleInputs(klValue: head.klValue, issues: &issues) { side, issues in
            let path = FieldPath(side.key)
            guard let value = fields[side.key], value.kind != .null else {
                if side.isRequired { issues.add(.missing(because: "every request has '\(side.key)'"), at: path) }
                return nil
            }
            guard value.kind == .object else {
                issues.add(.wrongType(expected: "an object"), at: path)
                return nil
            }
            let named = uniqueFields(of: value, at: path, known: SideKey.names, issues: &issues)
            let sideFields = Dictionary(
                uniqueKeysWithValues: named.compactMap { key, field in SideKey(rawValue: key).map { ($0, field) } })
            let reader = JSONSideReader(cancellation: cancellation)
            return decodeSide(sideFields, side: side, labelPadTokenID: pad, reader: reader, issues: &issues)
        }
    }
}

/// What a request says besides its inputs, read once for its outline and its decoding: its
/// configuration, whether token gradients come back, its top-level fields (`Field` being a JSON
/// value, or a safetensors tensor), and the issues found reading them.
struct RequestHead<Field> {
    var isObject = true
    var fields: [String: Field] = [:]
    var configuration = RequestConfiguration()
    var returnTokenGradients = false
    /// KTO's KL reference point, when the request gives it as a value.
    var klValue: Double?
    var issues = IssueCollector<FieldPath>()
}

extension RequestHead<JSONValue> {
    /// The head of a JSON request document.
    init(json root: JSONValue) {
        guard root.kind == .object else {
            isObject = false
            issues.add(.wrongType(expected: "an object"), at: FieldPath())
            return
        }
        fields = uniqueFields(of: root, at: FieldPath(), known: RequestKey.names, issues: &issues)
        if let config = fields[RequestKey.config.rawValue], config.kind != .null {
            configuration = decodeConfiguration(config, issues: &issues)
        }
        if let flag = fields[RequestKey.returnTokenGradients.rawValue], flag.kind != .null {
            if let value = flag.bool {
                returnTokenGradients = value
            } else {
                issues.add(.wrongType(expected: "a boolean"), at: FieldPath(RequestKey.returnTokenGradients.rawValue))
            }
        }
        if let value = fields[RequestKey.klValue.rawValue], value.kind != .null {
            if let number = value.double {
                klValue = number
            } else {
                issues.add(.wrongType(expected: "a number"), at: FieldPath(RequestKey.klValue.rawValue))
            }
        }
    }
}

/// The `config` object (defaults where it is not one, after recording why).
func decodeConfiguration(_ config: JSONValue, issues: inout IssueCollector<FieldPath>) -> RequestConfiguration {
    guard config.kind == .object else {
        issues.add(.wrongType(expected: "an object"), at: FieldPath(RequestKey.config.rawValue))
        return RequestConfiguration()
    }
    // Refused before a key is read: hashing millions of keys would cost far more than their bytes.
    guard config.count <= RequestConfiguration.maximumEntries else {
        issues.add(
            .outOfRange(allowed: "at most \(RequestConfiguration.maximumEntries) keys"),
            at: FieldPath(RequestKey.config.rawValue))
        return RequestConfiguration()
    }
    do {
        return try RequestConfiguration(parsing: config.fields.map { (key: $0.key, value: ConfigValue($0.value)) })
    } catch {
        issues.add(contentsOf: error) { $0 }
        return RequestConfiguration()
    }
}

/// The fields of `object` by key, recording unknown and duplicate keys.
func uniqueFields(
    of object: JSONValue, at path: FieldPath, known: [String], issues: inout IssueCollector<FieldPath>
) -> [String: JSONValue] {
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

/// A side's fields in a JSON request: arrays of numbers, and arrays of rows.
private struct JSONSideReader: SideFieldReader {
    var cancellation: CancellationFlag?

    func sequenceLogps(_ field: JSONValue, at path: FieldPath, issues: inout IssueCollector<FieldPath>) -> [Double]? {
        var values: [Double] = []
        return decodeNumbers(field, into: &values, at: path, issues: &issues) ? values : nil
    }

    func tokenLogps(_ field: JSONValue, at path: FieldPath, issues: inout IssueCollector<FieldPath>) -> TokenValues? {
        decodeRows(field, at: path, issues: &issues, cancellation: cancellation, element: decodeNumbers).map(
            TokenValues.init)
    }

    /// Mask rows are checked against the log-prob rows by the loss, which names each mismatch.
    func mask(
        _ field: JSONValue, like tokens: TokenValues?, at path: FieldPath, issues: inout IssueCollector<FieldPath>
    ) -> RaggedRows<Bool>? {
        decodeRows(field, at: path, issues: &issues, cancellation: cancellation, element: decodeMaskRow)
    }

    func labels(
        _ field: JSONValue, like tokens: TokenValues?, at path: FieldPath, issues: inout IssueCollector<FieldPath>
    ) -> RaggedRows<Int64>? {
        decodeRows(field, at: path, issues: &issues, cancellation: cancellation, element: decodeLabelRow)
    }
}

/// Rows decoded or encoded between two checks for cancellation.
let rowsPerCheckpoint = 4096

/// An array of arrays, each decoded by `element` into one row; nil, with no issue, once
/// `cancellation` is set.
private func decodeRows<T>(
    _ value: JSONValue, at path: FieldPath, issues: inout IssueCollector<FieldPath>, cancellation: CancellationFlag?,
    element: (JSONValue, inout [T], FieldPath, inout IssueCollector<FieldPath>) -> Bool
) -> RaggedRows<T>? {
    guard value.kind == .array else {
        issues.add(.wrongType(expected: "an array of arrays"), at: path)
        return nil
    }
    var values: [T] = []
    var offsets = [0]
    var valid = true
    for (index, row) in value.elements.enumerated() {
        if index % rowsPerCheckpoint == 0, cancellation?.isCancelled == true { return nil }
        if !element(row, &values, path.index(index), &issues) {
            valid = false
            if issues.isFull { break }
        }
        offsets.append(values.count)
    }
    return valid ? RaggedRows(values: values, rowOffsets: offsets) : nil
}

/// Appends an array of numbers to `values`; false after recording why not.
private func decodeNumbers(
    _ value: JSONValue, into values: inout [Double], at path: FieldPath, issues: inout IssueCollector<FieldPath>
) -> Bool {
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

/// Appends a mask row: booleans, or the integers 0 and 1 (in one pass; a row with numbers
/// written as `1.0`, or with an error to report, element by element).
private func decodeMaskRow(
    _ value: JSONValue, into values: inout [Bool], at path: FieldPath, issues: inout IssueCollector<FieldPath>
) -> Bool {
    guard value.kind == .array else {
        issues.add(.wrongType(expected: "an array"), at: path)
        return false
    }
    if value.appendFlags(to: &values) == nil { return true }
    for (index, item) in value.elements.enumerated() {
        switch (item.bool, item.integralValue) {
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
private func decodeLabelRow(
    _ value: JSONValue, into values: inout [Int64], at path: FieldPath, issues: inout IssueCollector<FieldPath>
) -> Bool {
    guard value.kind == .array else {
        issues.add(.wrongType(expected: "an array"), at: path)
        return false
    }
    guard value.appendIntegers(to: &values) != nil else { return true }
    // A number written with a fraction (`-100.0`) is an integer too, as JSON Schema and the config's integers count
    // it. (A failed bulk read appends nothing.)
    for (index, item) in value.elements.enumerated() {
        guard let integer = item.integralValue else {
            issues.add(.wrongType(expected: "an integer"), at: path.index(index))
            return false
        }
        values.append(integer)
    }
    return true
}

extension JSONValue {
    /// An integer, or a number such as `1.0` that is exactly a 64-bit integer.
    var integralValue: Int64? {
        int64 ?? double.flatMap { Int64(exactly: $0) }
    }
}

extension ConfigValue {
    /// The configuration value a JSON value carries. Arrays keep their scalar elements; one
    /// longer than any key allows is not read but kept as that many plus one nulls, so it is
    /// refused as too long at the cost of a short one.
    init(_ value: JSONValue) {
        let limit = RequestConfiguration.maximumListLength
        switch value.kind {
        case .array where value.count > limit: self = .array(Array(repeating: .null, count: limit + 1))
        case .array: self = .array(value.elements.map(ConfigValue.init(scalar:)))
        default: self = ConfigValue(scalar: value)
        }
    }

    /// A scalar's value; a container is kept only as its kind.
    private init(scalar value: JSONValue) {
        switch value.kind {
        case .integer: self = .integer(value.int64 ?? 0)
        case .unsignedInteger, .double: self = .number(value.double ?? 0)
        case .string: self = .string(value.string ?? "")
        case .bool: self = .bool(value.bool ?? false)
        case .null: self = .null
        case .array: self = .array([])
        case .object: self = .object
        }
    }
}
