import FastJSON

/// The wire format of a `POST /v1/loss` body.
public enum RequestFormat: Sendable {
    case json
    case safetensors
}

extension LossRequest {
    /// Decodes a body in `format`; `spare` readable bytes follow `bytes` in memory.
    ///
    /// - Throws: `JSONSyntaxError` or `SafetensorsError` for a malformed body,
    ///   `LossInputError` for content problems.
    public init(body bytes: UnsafeRawBufferPointer, spare: Int, format: RequestFormat, parser: JSONParser) throws {
        switch format {
        case .json: self = try parser.parse(bytes, spare: spare) { root in try LossRequest(json: root) }
        case .safetensors: self = try LossRequest(safetensors: bytes, parser: parser)
        }
    }
}
