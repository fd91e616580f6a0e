import FastJSON
import PreferenceLoss
import Safetensors

/// What a request asks of the server, known once its document is parsed and before its inputs
/// are decoded: the size of its answer (from the lengths of a JSON document's arrays, or a
/// safetensors header's shapes) and, for safetensors, the memory its decoded inputs will hold.
/// A request that decoding will refuse may be outlined from what it has (no pairs, say).
public struct RequestOutline: Sendable, Equatable {
    /// Pairs: the chosen side's rows; for an unpaired objective (KTO), the chosen and rejected rows.
    public var pairs = 0
    /// The answer's arrays of one number per pair: `LossResult.perPairArrays`, and one per loss
    /// type of `losses_by_type`.
    public var pairArrays = LossResult.perPairArrays
    /// The answer's per-token gradients: the chosen and rejected sides' tokens, when asked for.
    public var tokenGradients = 0
    /// The bytes the decoded inputs hold (values, masks, labels, row offsets), where the format
    /// tells before decoding (safetensors); nil for a JSON document.
    public var inputBytes: Int?

    /// The numbers of the answer that grow with the batch.
    public var answerNumbers: Int { pairArrays * pairs + tokenGradients }

    /// The outline of a decoded request, its inputs' bytes included.
    public init(_ request: LossRequest) {
        let inputs = request.inputs
        self.init(configuration: request.configuration, tokenGradients: request.returnTokenGradients) { side in
            switch inputs.input(of: side) {
            case .sequenceLogps(let values): (values.count, 0)
            case .tokenLogps(let values, _): (values.rowCount, values.count)
            case nil: (0, 0)
            }
        }
        let sides = Side.allCases.compactMap(inputs.input(of:))
        let extras = [inputs.chosenLogSumSqProbs, inputs.rejectedLogSumSqProbs].compactMap(\.self).reduce(0) {
            $0 + $1.byteCount + offsetBytes(rows: $1.rowCount)
        }
        inputBytes = sides.reduce(extras + (inputs.chosenNLLMask.map(heldBytes) ?? 0)) { $0 + heldBytes($1) }
    }

    /// The outline of a JSON request document: array lengths only, no values read.
    public init(json root: JSONValue) {
        self.init(RequestHead(json: root))
    }

    /// The outline of a safetensors request from its header, with what decoding its tensors holds.
    public init(safetensors file: SafetensorsFile, parser: JSONParser) {
        self.init(RequestHead(safetensors: file, parser: parser))
    }

    /// The outline of a JSON document from its head.
    init(_ head: RequestHead<JSONValue>) {
        let gradients = head.returnTokenGradients
        self.init(configuration: head.configuration, tokenGradients: gradients) { side in
            let sideFields = head.fields[side.key].map(firstFields) ?? [:]
            if let rows = sideFields[SideKey.perTokenLogps.rawValue], rows.kind == .array {
                // Tokens are counted only when their gradients are asked for: a pass over every row.
                let tokens = gradients ? rows.elements.reduce(0) { $0 + ($1.kind == .array ? $1.count : 0) } : 0
                return (rows.count, tokens)
            }
            if let logps = sideFields[SideKey.logps.rawValue], logps.kind == .array { return (logps.count, 0) }
            return (0, 0)
        }
    }

    /// The outline of a safetensors request from its head, with what decoding its tensors holds.
    init(_ head: RequestHead<TensorInfo>) {
        let tensors = head.fields
        self.init(configuration: head.configuration, tokenGradients: head.returnTokenGradients) { side in
            if let tokens = tensors["\(side.key).\(SideKey.perTokenLogps.rawValue)"], tokens.shape.count == 2 {
                return (tokens.rows, tokens.count)
            }
            if let logps = tensors["\(side.key).\(SideKey.logps.rawValue)"], logps.shape.count == 1 {
                return (logps.count, 0)
            }
            return (0, 0)
        }
        inputBytes = tensors.values.reduce(0) { $0 + decodedBytes($1) }
    }

    /// From each side's rows and tokens.
    private init(
        configuration: RequestConfiguration, tokenGradients asked: Bool, side: (Side) -> (rows: Int, tokens: Int)
    ) {
        let (chosen, rejected) = (side(.chosen), side(.rejected))
        let objective = configuration.loss.objective
        pairs = objective.isPaired ? chosen.rows : chosen.rows + rejected.rows
        pairArrays = LossResult.perPairArrays + objective.lossTypeParts
        tokenGradients = asked ? chosen.tokens + rejected.tokens : 0
    }
}

/// An object's fields by key, the first of repeated keys (decoding refuses repeats); none for another value.
private func firstFields(of object: JSONValue) -> [String: JSONValue] {
    guard object.kind == .object else { return [:] }
    return Dictionary(object.fields.map { ($0.key, $0.value) }) { first, _ in first }
}

/// Bytes of row offsets for `rows` rows.
private func offsetBytes(rows: Int) -> Int { 8 * (rows + 1) }

/// What decoding `tensor` holds, at most, as the codec decodes it: per-token log-probs in their
/// own type, masks as one byte a flag (integer masks pass through 64-bit integers), labels and
/// sequence log-probs as 8 bytes; row offsets for every 2-D tensor. Unknown tensors hold nothing.
private func decodedBytes(_ tensor: TensorInfo) -> Int {
    let key = tensor.name.split(separator: ".", maxSplits: 1).last.flatMap { SideKey(rawValue: String($0)) }
    let rows = offsetBytes(rows: tensor.rows)
    switch key {
    case .logps: return 8 * tensor.count
    case .perTokenLogps, .logSumSqProbs: return tensor.dtype.size * tensor.count + rows
    case .mask, .nllMask: return (tensor.dtype == .bool || tensor.dtype == .u8 ? 1 : 9) * tensor.count + rows
    case .labels: return 8 * tensor.count + rows
    case nil: return 0
    }
}

extension TensorInfo {
    /// The rows of a [rows, ...] tensor, as far as its bytes hold them: a [B, 0] tensor, which
    /// decoding refuses, has none whatever B says.
    fileprivate var rows: Int { count == 0 ? 0 : shape.first ?? 0 }
}

/// What a decoded side holds.
private func heldBytes(_ side: SideInput) -> Int {
    switch side {
    case .sequenceLogps(let values): return 8 * values.count
    case .tokenLogps(let values, let selection):
        let tokens = values.byteCount + offsetBytes(rows: values.rowCount)
        switch selection {
        case .all: return tokens
        case .mask(let mask): return tokens + heldBytes(mask)
        case .labels(let labels, _): return tokens + 8 * labels.values.count + offsetBytes(rows: labels.rowCount)
        }
    }
}

private func heldBytes(_ mask: RaggedRows<Bool>) -> Int { mask.values.count + offsetBytes(rows: mask.rowCount) }

extension TokenValues {
    /// The bytes of the elements, in their own type.
    var byteCount: Int {
        switch storage {
        case .float64(let values): 8 * values.count
        case .float32(let values): 4 * values.count
        case .float16(let values), .bfloat16(let values): 2 * values.count
        }
    }
}
