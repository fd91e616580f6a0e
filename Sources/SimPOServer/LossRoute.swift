import FastJSON
import Hummingbird
import NIOCore
import SimPOLoss

/// `POST /v1/loss`: JSON in, losses, gradients and metrics out.
struct LossRoute: Sendable {
    let maximumBodySize: Int
    let parsers: JSONParserPool
    let metrics: ServerMetrics

    func respond(to request: Request, context: some RequestContext) async throws -> Response {
        guard isJSON(request.headers[.contentType]) else {
            throw Problem(
                status: .unsupportedMediaType,
                detail: "send the body as application/json (got \(request.headers[.contentType] ?? "no Content-Type"))",
                headers: [.accept: "application/json"])
        }
        let body = try await collectBody(of: request)
        metrics.requestBodyBytes.record(body.readableBytes)

        let decoded: LossRequest? = try parsers.withParser { parser in
            try body.withUnsafeReadableBytes { bytes in
                do {
                    return try parser.parse(bytes, spare: body.writableBytes) { root in try LossRequest(json: root) }
                } catch let error as JSONSyntaxError {
                    throw Problem(error)
                } catch let error as LossInputError {
                    throw Problem(error)
                }
            }
        }
        guard let decoded else {
            throw Problem(status: .serviceUnavailable, detail: "no memory for a JSON parser; retry later", headers: [.retryAfter: "1"])
        }
        let result: LossResult
        do {
            result = try evaluateLoss(decoded.inputs, configuration: decoded.configuration, tokenGradients: decoded.returnTokenGradients)
        } catch {
            throw Problem(error)
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: result.jsonBytes())))
    }

    /// The whole body in one buffer with simdjson's padding spare after it: sized from
    /// Content-Length when given, so it is copied once, not regrown. A body over the
    /// limit is refused as soon as its declared or received size shows it.
    private func collectBody(of request: Request) async throws -> ByteBuffer {
        let declared = max(0, request.headers[.contentLength].flatMap(Int.init) ?? 0)
        guard declared <= maximumBodySize else { throw tooLarge() }
        var body = ByteBufferAllocator().buffer(capacity: declared + JSONParser.requiredPadding)
        for try await chunk in request.body {
            guard chunk.readableBytes <= maximumBodySize - body.readableBytes else { throw tooLarge() }
            body.writeImmutableBuffer(chunk)
        }
        body.reserveCapacity(minimumWritableBytes: JSONParser.requiredPadding)
        return body
    }

    private func tooLarge() -> Problem {
        Problem(status: .contentTooLarge, detail: "request body exceeds the limit of \(maximumBodySize) bytes")
    }
}

/// Whether a Content-Type names JSON (`application/json`, any parameters, any case).
func isJSON(_ contentType: String?) -> Bool {
    guard let contentType else { return false }
    let mediaType = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    return mediaType.filter { $0 != " " && $0 != "\t" }.lowercased() == "application/json"
}
