import FastJSON
import PreferenceLoss
import Safetensors

extension LossRequest {
    /// The `__metadata__` keys a request may carry; `format` is written by torch's and numpy's writers.
    static let metadataKeys = [
        RequestKey.config.rawValue, RequestKey.returnTokenGradients.rawValue, RequestKey.klValue.rawValue, "format",
    ]
    /// Largest safetensors header read; a loss request's header is well under 2 KiB, and
    /// parsing one costs up to about 30 bytes per header byte.
    public static let maximumSafetensorsHeader = 128 << 10

    /// Decodes a safetensors request body; `inspect` sees its outline, from the header, before
    /// its tensors are decoded, and may throw to stop there.
    ///
    /// - Throws: `SafetensorsError` for a malformed file, `RequestError` for content problems,
    ///   what `inspect` throws.
    public init(
        safetensors bytes: UnsafeRawBufferPointer, parser: JSONParser,
        inspect: (RequestOutline) throws -> Void = { _ in }
    ) throws {
        let file = try SafetensorsFile(parsing: bytes, maximumHeaderSize: Self.maximumSafetensorsHeader, parser: parser)
        let head = RequestHead(safetensors: file, parser: parser)
        try inspect(RequestOutline(head))
        try self.init(safetensors: file, head: head, in: bytes)
    }

    /// Decodes a safetensors request: tensors named `<side>.<field>` (`chosen.per_token_logps`
    /// [B, T], `chosen.mask` or `chosen.labels` [B, T], or `chosen.logps` [B]; likewise
    /// `rejected`, `reference_chosen`, `reference_rejected`, `kl`, `reference_kl`), and
    /// `__metadata__` entries `config` (a JSON object as a string), `return_token_grads`
    /// (`true` or `false`) and `kl_value` (a number as a string).
    /// Problems are reported at the JSON pointer the same field has in a JSON request.
    init(
        safetensors file: SafetensorsFile, head: RequestHead<TensorInfo>, in bytes: UnsafeRawBufferPointer
    )
        throws(RequestError)
    {
        var issues = head.issues
        let configuration = head.configuration
        returnTokenGradients = head.returnTokenGradients

        var sides: [Side: [SideKey: TensorInfo]] = [:]
        for tensor in file.tensors {
            // `<side>.<key>`: the side ends at the first dot.
            let dot = tensor.name.firstIndex(of: ".")
            let sideName = String(tensor.name[..<(dot ?? tensor.name.endIndex)])
            let keyName = dot.map { String(tensor.name[tensor.name.index(after: $0)...]) }
            guard let keyName, let side = Side.allCases.first(where: { $0.key == sideName }) else {
                issues.add(
                    .unknownKey(
                        suggestion: closestMatch(to: sideName, among: Side.keys).map { suggestedSide in
                            "\(suggestedSide).\(keyName.flatMap { closestMatch(to: $0, among: SideKey.names) } ?? SideKey.perTokenLogps.rawValue)"
                        }), at: FieldPath(tensor.name))
                continue
            }
            guard let key = SideKey(rawValue: keyName) else {
                issues.add(
                    .unknownKey(suggestion: closestMatch(to: keyName, among: SideKey.names)),
                    at: FieldPath(sideName, keyName))
                continue
            }
            sides[side, default: [:]][key] = tensor
        }

        self.configuration = configuration
        let reader = SafetensorsSideReader(bytes: bytes)
        let pad = configuration.labelPadTokenID
        inputs = try assembleInputs(klValue: head.klValue, issues: &issues) { side, issues in
            guard let tensors = sides[side] else {
                if side.isRequired {
                    issues.add(
                        .missing(because: "every request has '\(side.key).logps' or '\(side.key).per_token_logps'"),
                        at: FieldPath(side.key))
                }
                return nil
            }
            return decodeSide(tensors, side: side, labelPadTokenID: pad, reader: reader, issues: &issues)
        }
    }
}

extension RequestHead<TensorInfo> {
    /// The head of a safetensors request: its `__metadata__`, and its tensors by name.
    init(safetensors file: SafetensorsFile, parser: JSONParser) {
        fields = Dictionary(file.tensors.map { ($0.name, $0) }) { first, _ in first }
        for (key, value) in file.metadata.sorted(by: { $0.key < $1.key }) {
            switch RequestKey(rawValue: key) {
            case .config:
                configuration = decodeConfiguration(json: value, parser: parser, issues: &issues)
            case .returnTokenGradients:
                switch value {
                case "true": returnTokenGradients = true
                case "false": returnTokenGradients = false
                default: issues.add(.wrongType(expected: "'true' or 'false'"), at: FieldPath(key))
                }
            case .klValue:
                // A JSON number, as Python's `json.dumps` or `repr` of a float writes it.
                if let number = decodeNumber(json: value, parser: parser) {
                    klValue = number
                } else {
                    issues.add(.wrongType(expected: "a number in a string, e.g. '0.25'"), at: FieldPath(key))
                }
            case nil where key == "format":
                continue
            case nil:
                issues.add(
                    .unknownKey(suggestion: closestMatch(to: key, among: LossRequest.metadataKeys)), at: FieldPath(key))
            }
        }
    }
}

/// A JSON number from its text; nil for anything else.
private func decodeNumber(json text: String, parser: JSONParser) -> Double? {
    var utf8 = Array(text.utf8)
    let count = utf8.count
    utf8.append(contentsOf: repeatElement(0, count: JSONParser.requiredPadding))
    return try? utf8.withUnsafeBytes { bytes in
        try parser.parse(UnsafeRawBufferPointer(rebasing: bytes[..<count]), spare: JSONParser.requiredPadding) {
            $0.double
        }
    }
}

/// The configuration from its JSON text.
func decodeConfiguration(
    json text: String, parser: JSONParser, issues: inout IssueCollector<FieldPath>
) -> RequestConfiguration {
    var utf8 = Array(text.utf8)
    let count = utf8.count
    utf8.append(contentsOf: repeatElement(0, count: JSONParser.requiredPadding))
    do {
        return try utf8.withUnsafeBytes { bytes in
            try parser.parse(UnsafeRawBufferPointer(rebasing: bytes[..<count]), spare: JSONParser.requiredPadding) {
                root in
                decodeConfiguration(root, issues: &issues)
            }
        }
    } catch {
        issues.add(
            .wrongType(expected: "a JSON object in a string (\(error))"), at: FieldPath(RequestKey.config.rawValue))
        return RequestConfiguration()
    }
}

/// A side's tensors in a safetensors request: padded [B, T] rows, checked shapes.
private struct SafetensorsSideReader: SideFieldReader {
    var bytes: UnsafeRawBufferPointer

    func sequenceLogps(_ tensor: TensorInfo, at path: FieldPath, issues: inout IssueCollector<FieldPath>) -> [Double]? {
        guard tensor.shape.count == 1 else {
            issues.add(.wrongType(expected: "a 1-D [batch] tensor, not shape \(tensor.shape)"), at: path)
            return nil
        }
        return floats(tensor, at: path, issues: &issues)
    }

    func tokenLogps(_ tensor: TensorInfo, at path: FieldPath, issues: inout IssueCollector<FieldPath>) -> TokenValues? {
        guard tensor.shape.count == 2 else {
            issues.add(.wrongType(expected: "a 2-D [batch, tokens] tensor, not shape \(tensor.shape)"), at: path)
            return nil
        }
        let (rowCount, rowLength) = (tensor.shape[0], tensor.shape[1])
        // A [B, 0] tensor has no bytes whatever B is: refuse it before B sizes anything.
        guard rowLength > 0 || rowCount == 0 else {
            issues.add(.emptyRow, at: path.index(0))
            return nil
        }
        // In the tensor's own element type, copied as one block; the loss reads every type.
        let storage: TokenValues.Storage
        switch tensor.dtype {
        case .f64: storage = .float64(tensor.elements(in: bytes, as: Double.self))
        case .f32: storage = .float32(tensor.elements(in: bytes, as: Float.self))
        case .f16: storage = .float16(tensor.elements(in: bytes, as: UInt16.self))
        case .bf16: storage = .bfloat16(tensor.elements(in: bytes, as: UInt16.self))
        default:
            issues.add(.wrongType(expected: "an F32, F64, F16 or BF16 tensor, not \(tensor.dtype.rawValue)"), at: path)
            return nil
        }
        // The file's checks made rowCount × rowLength the element count without overflow.
        return TokenValues(storage, rows: rowCount, width: rowLength)
    }

    func mask(
        _ tensor: TensorInfo, like tokens: TokenValues?, at path: FieldPath, issues: inout IssueCollector<FieldPath>
    ) -> RaggedRows<Bool>? {
        guard let offsets = rowOffsets(of: tensor, like: tokens, at: path, issues: &issues) else { return nil }
        let width = max(offsets.count > 1 ? offsets[1] - offsets[0] : 1, 1)
        let flags: [Bool]
        if tensor.dtype == .bool || tensor.dtype == .u8 {
            // Bytes already 0 or 1 are Bools as they stand: checked in blocks, copied as one.
            do {
                flags = try PreferenceLoss.flags(fromBytes: UnsafeRawBufferPointer(rebasing: bytes[tensor.byteRange]))
            } catch {
                issues.add(
                    .wrongType(expected: "0 or 1"), at: path.index(error.index / width).index(error.index % width))
                return nil
            }
        } else {
            guard let values = integers(tensor, at: path, issues: &issues) else { return nil }
            if let bad = values.firstIndex(where: { $0 != 0 && $0 != 1 }) {
                issues.add(.wrongType(expected: "0 or 1"), at: path.index(bad / width).index(bad % width))
                return nil
            }
            flags = values.map { $0 == 1 }
        }
        return RaggedRows(values: flags, rowOffsets: offsets)
    }

    func labels(
        _ tensor: TensorInfo, like tokens: TokenValues?, at path: FieldPath, issues: inout IssueCollector<FieldPath>
    ) -> RaggedRows<Int64>? {
        guard let offsets = rowOffsets(of: tensor, like: tokens, at: path, issues: &issues) else { return nil }
        return integers(tensor, at: path, issues: &issues).flatMap { RaggedRows(values: $0, rowOffsets: offsets) }
    }

    /// A floating-point tensor's values as doubles.
    private func floats(_ tensor: TensorInfo, at path: FieldPath, issues: inout IssueCollector<FieldPath>) -> [Double]?
    {
        guard let values = tensor.doubles(in: bytes) else {
            issues.add(.wrongType(expected: "an F32, F64, F16 or BF16 tensor, not \(tensor.dtype.rawValue)"), at: path)
            return nil
        }
        return values
    }

    /// An integer tensor's values.
    private func integers(_ tensor: TensorInfo, at path: FieldPath, issues: inout IssueCollector<FieldPath>) -> [Int64]?
    {
        guard let values = tensor.integers(in: bytes) else {
            issues.add(.wrongType(expected: "a BOOL or integer tensor, not \(tensor.dtype.rawValue)"), at: path)
            return nil
        }
        return values
    }

    /// The rows of a 2-D [B, T] mask or labels tensor: those of `tokens` when given, whose shape it
    /// must have; else its own. Nil after recording why not.
    private func rowOffsets(
        of tensor: TensorInfo, like tokens: TokenValues?, at path: FieldPath, issues: inout IssueCollector<FieldPath>
    ) -> [Int]? {
        guard tensor.shape.count == 2 else {
            issues.add(.wrongType(expected: "a 2-D [batch, tokens] tensor, not shape \(tensor.shape)"), at: path)
            return nil
        }
        let (rowCount, rowLength) = (tensor.shape[0], tensor.shape[1])
        guard let tokens else {
            // A [B, 0] tensor has no bytes whatever B is: refuse it before B sizes anything.
            guard rowLength > 0 || rowCount == 0 else {
                issues.add(.emptyRow, at: path.index(0))
                return nil
            }
            // The file's checks made rowCount × rowLength the element count without overflow.
            return (0 ... rowCount).map { $0 * rowLength }
        }
        let width = tokens.rowCount > 0 ? tokens.length(ofRow: 0) : rowLength
        guard rowCount == tokens.rowCount else {
            issues.add(.rowCountMismatch(expected: tokens.rowCount, actual: rowCount), at: path)
            return nil
        }
        guard rowLength == width else {
            issues.add(.rowLengthMismatch(expected: width, actual: rowLength), at: path)
            return nil
        }
        return tokens.rowOffsets
    }
}
