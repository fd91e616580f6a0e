import FastJSON
import Safetensors
import PreferenceLoss

extension LossRequest {
    static let metadataKeys = ["config", "return_token_grads", "format"]
    /// Largest safetensors header read; a loss request's header is well under 2 KiB, and
    /// parsing one costs up to about 30 bytes per header byte.
    static let maximumSafetensorsHeader = 128 << 10

    /// Decodes a safetensors request body.
    ///
    /// - Throws: `SafetensorsError` for a malformed file, `LossInputError` for content problems.
    public init(safetensors bytes: UnsafeRawBufferPointer, parser: JSONParser) throws {
        let file = try SafetensorsFile(parsing: bytes, maximumHeaderSize: Self.maximumSafetensorsHeader, parser: parser)
        try self.init(safetensors: file, in: bytes, parser: parser)
    }

    /// Decodes a safetensors request: tensors named `<side>.<field>` (`chosen.per_token_logps`
    /// [B, T], `chosen.mask` or `chosen.labels` [B, T], or `chosen.logps` [B]; likewise
    /// `rejected`, `reference_chosen`, `reference_rejected`), and `__metadata__` entries
    /// `config` (a JSON object as a string) and `return_token_grads` (`true` or `false`).
    /// Problems are reported at the JSON pointer the same field has in a JSON request.
    init(safetensors file: SafetensorsFile, in bytes: UnsafeRawBufferPointer, parser: JSONParser) throws(LossInputError) {
        var issues = IssueCollector()
        var configuration = LossConfiguration()
        returnTokenGradients = false
        for (key, value) in file.metadata.sorted(by: { $0.key < $1.key }) {
            switch key {
            case "config":
                configuration = decodeConfiguration(json: value, parser: parser, issues: &issues)
            case "return_token_grads":
                switch value {
                case "true": returnTokenGradients = true
                case "false": returnTokenGradients = false
                default: issues.add(.wrongType(expected: "'true' or 'false'"), at: FieldPath("return_token_grads"))
                }
            case "format":
                continue  // written by torch's and numpy's safetensors writers
            default:
                issues.add(.unknownKey(suggestion: closestMatch(to: key, among: Self.metadataKeys)), at: FieldPath(key))
            }
        }

        var sides: [String: [String: TensorInfo]] = [:]
        let sideNames = Self.topLevelKeys.filter { $0 != "config" && $0 != "return_token_grads" }
        for tensor in file.tensors {
            // `<side>.<key>`: the side ends at the first dot.
            let dot = tensor.name.firstIndex(of: ".")
            let side = String(tensor.name[..<(dot ?? tensor.name.endIndex)])
            let key = dot.map { String(tensor.name[tensor.name.index(after: $0)...]) }
            guard let key, sideNames.contains(side) else {
                issues.add(.unknownKey(suggestion: closestMatch(to: side, among: sideNames).map { suggestedSide in
                    "\(suggestedSide).\(key.flatMap { closestMatch(to: $0, among: Self.sideKeys) } ?? "per_token_logps")"
                }), at: FieldPath(tensor.name))
                continue
            }
            guard Self.sideKeys.contains(key) else {
                issues.add(.unknownKey(suggestion: closestMatch(to: key, among: Self.sideKeys)), at: FieldPath(side, key))
                continue
            }
            sides[side, default: [:]][key] = tensor
        }

        self.configuration = configuration
        inputs = try assembleInputs(issues: &issues) { name, required, issues in
            guard let tensors = sides[name] else {
                if required { issues.add(.missing(because: "every request has '\(name).logps' or '\(name).per_token_logps'"), at: FieldPath(name)) }
                return nil
            }
            return decodeSide(tensors, at: FieldPath(name), in: bytes, issues: &issues)
        }
    }
}

/// The configuration from its JSON text.
private func decodeConfiguration(json text: String, parser: JSONParser, issues: inout IssueCollector) -> LossConfiguration {
    var utf8 = Array(text.utf8)
    let count = utf8.count
    utf8.append(contentsOf: repeatElement(0, count: JSONParser.requiredPadding))
    do {
        return try utf8.withUnsafeBytes { bytes in
            try parser.parse(UnsafeRawBufferPointer(rebasing: bytes[..<count]), spare: JSONParser.requiredPadding) { root in
                decodeConfiguration(root, issues: &issues)
            }
        }
    } catch {
        issues.add(.wrongType(expected: "a JSON object in a string (\(error))"), at: FieldPath("config"))
        return LossConfiguration()
    }
}

/// One side from its tensors.
private func decodeSide(_ tensors: [String: TensorInfo], at path: FieldPath, in bytes: UnsafeRawBufferPointer, issues: inout IssueCollector) -> SideInput? {
    let selectionKeys = ["mask", "labels"].filter { tensors[$0] != nil }
    switch (tensors["logps"], tensors["per_token_logps"]) {
    case (let logps?, nil):
        for key in selectionKeys {
            issues.add(.notApplicable(because: "'\(key)' goes with 'per_token_logps'"), at: path.key(key))
        }
        guard logps.shape.count == 1 else {
            issues.add(.wrongType(expected: "a 1-D [batch] tensor, not shape \(logps.shape)"), at: path.key("logps"))
            return nil
        }
        return floats(logps, at: path.key("logps"), in: bytes, issues: &issues).map { .sequenceLogps($0) }
    case (nil, let tokens?):
        if selectionKeys.count == 2 {
            issues.add(.conflicts(with: "mask"), at: path.key("labels"))
            return nil
        }
        guard tokens.shape.count == 2 else {
            issues.add(.wrongType(expected: "a 2-D [batch, tokens] tensor, not shape \(tokens.shape)"), at: path.key("per_token_logps"))
            return nil
        }
        guard let values = floats(tokens, at: path.key("per_token_logps"), in: bytes, issues: &issues) else { return nil }
        let (rowCount, rowLength) = (tokens.shape[0], tokens.shape[1])
        // A [B, 0] tensor has no bytes whatever B is: refuse it before B sizes anything.
        guard rowLength > 0 || rowCount == 0 else {
            issues.add(.emptyRow, at: path.key("per_token_logps").index(0))
            return nil
        }
        // The file's checks made rowCount × rowLength == values.count without overflow.
        guard let rows = RaggedRows(values: values, rowOffsets: (0 ... rowCount).map { $0 * rowLength }) else { return nil }
        if let mask = tensors["mask"] {
            guard let flags = selection(mask, like: tokens, at: path.key("mask"), in: bytes, issues: &issues) else { return nil }
            if let bad = flags.firstIndex(where: { $0 != 0 && $0 != 1 }) {
                issues.add(.wrongType(expected: "0 or 1"), at: path.key("mask").index(bad / rowLength).index(bad % rowLength))
                return nil
            }
            return RaggedRows(values: flags.map { $0 == 1 }, rowOffsets: rows.rowOffsets).map { .tokenLogps(rows, selection: .mask($0)) }
        }
        if let labels = tensors["labels"] {
            guard let ids = selection(labels, like: tokens, at: path.key("labels"), in: bytes, issues: &issues) else { return nil }
            return RaggedRows(values: ids, rowOffsets: rows.rowOffsets).map { .tokenLogps(rows, selection: .labels($0)) }
        }
        return .tokenLogps(rows, selection: .all)
    case (.some, .some):
        issues.add(.conflicts(with: "logps"), at: path.key("per_token_logps"))
    case (nil, nil):
        issues.add(.missing(because: "a side has 'logps' or 'per_token_logps'"), at: path)
    }
    return nil
}

/// A floating-point tensor's values as doubles.
private func floats(_ tensor: TensorInfo, at path: FieldPath, in bytes: UnsafeRawBufferPointer, issues: inout IssueCollector) -> [Double]? {
    guard let values = tensor.doubles(in: bytes) else {
        issues.add(.wrongType(expected: "an F32, F64, F16 or BF16 tensor, not \(tensor.dtype.rawValue)"), at: path)
        return nil
    }
    return values
}

/// A mask or labels tensor's values, after checking that its shape matches the log-probs'.
private func selection(_ tensor: TensorInfo, like tokens: TensorInfo, at path: FieldPath, in bytes: UnsafeRawBufferPointer, issues: inout IssueCollector) -> [Int64]? {
    guard tensor.shape.count == 2 else {
        issues.add(.wrongType(expected: "a 2-D [batch, tokens] tensor, not shape \(tensor.shape)"), at: path)
        return nil
    }
    guard tensor.shape[0] == tokens.shape[0] else {
        issues.add(.rowCountMismatch(expected: tokens.shape[0], actual: tensor.shape[0]), at: path)
        return nil
    }
    guard tensor.shape[1] == tokens.shape[1] else {
        issues.add(.rowLengthMismatch(expected: tokens.shape[1], actual: tensor.shape[1]), at: path)
        return nil
    }
    guard let values = tensor.integers(in: bytes) else {
        issues.add(.wrongType(expected: "a BOOL or integer tensor, not \(tensor.dtype.rawValue)"), at: path)
        return nil
    }
    return values
}
