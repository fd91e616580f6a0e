import FastJSON
import PreferenceLoss

/// The wire format of a `POST /v1/loss` body.
public enum RequestFormat: Sendable {
    case json
    case safetensors
}

extension LossRequest {
    /// Decodes a body in `format`; `spare` readable bytes follow `bytes` in memory.
    ///
    /// - Throws: `JSONSyntaxError` or `SafetensorsError` for a malformed body, `RequestError` for
    ///   content problems, `CancellationError` once `cancellation` is set.
    public init(
        body bytes: UnsafeRawBufferPointer, spare: Int, format: RequestFormat, parser: JSONParser,
        cancellation: CancellationFlag? = nil
    ) throws {
        do {
            switch format {
            case .json:
                self = try parser.parse(bytes, spare: spare) { root in
                    try LossRequest(json: root, cancellation: cancellation)
                }
            case .safetensors: self = try LossRequest(safetensors: bytes, parser: parser)
            }
        } catch is RequestError where cancellation?.isCancelled == true {
            throw CancellationError()
        }
    }
}
