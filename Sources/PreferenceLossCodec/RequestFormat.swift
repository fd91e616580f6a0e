import FastJSON
import PreferenceLoss

/// The wire format of a `POST /v1/loss` body.
public enum RequestFormat: Sendable {
    case json
    case safetensors
}

extension LossRequest {
    /// Decodes a body in `format`; `spare` readable bytes follow `bytes` in memory. `inspect` sees
    /// the request's outline once the document (a JSON DOM, a safetensors header) is parsed and
    /// before its inputs are decoded, and may throw to stop there.
    ///
    /// - Throws: `JSONSyntaxError` or `SafetensorsError` for a malformed body, `RequestError` for
    ///   content problems, `CancellationError` once `cancellation` is set, what `inspect` throws.
    public init(
        body bytes: UnsafeRawBufferPointer, spare: Int, format: RequestFormat, parser: JSONParser,
        cancellation: CancellationFlag? = nil, inspect: (RequestOutline) throws -> Void = { _ in }
    ) throws {
        do {
            switch format {
            case .json:
                self = try parser.parse(bytes, spare: spare) { root in
                    let head = RequestHead(json: root)
                    try inspect(RequestOutline(head))
                    return try LossRequest(json: head, cancellation: cancellation)
                }
            case .safetensors: self = try LossRequest(safetensors: bytes, parser: parser, inspect: inspect)
            }
        } catch is RequestError where cancellation?.isCancelled == true {
            throw CancellationError()
        }
    }
}
