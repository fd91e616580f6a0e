import FastJSON
import Hummingbird
import NIOCore
import Safetensors
import SimPOCodec
import SimPOLoss

/// `POST /v1/loss`: JSON or safetensors in (optionally gzip- or deflate-encoded),
/// losses, gradients and metrics out in the representation `Accept` asks for.
struct LossRoute: Sendable {
    let maximumBodySize: Int
    let bodyTimeout: Duration
    let parsers: JSONParserPool
    let metrics: ServerMetrics
    /// Whether responses may be gzip-compressed for clients that accept it.
    let compressResponses: Bool

    /// Request media types, as `Accept` on a 415 lists them.
    static let requestMediaTypes = ["application/json", ResponseFormat.safetensorsMediaType]
    /// Responses smaller than this are not worth compressing.
    static let compressionThreshold = 1024

    func respond(to request: Request, context: some RequestContext) async throws -> Response {
        let mediaType = mediaType(of: request.headers[.contentType])
        guard Self.requestMediaTypes.contains(mediaType) else {
            throw Problem(
                status: .unsupportedMediaType,
                detail: "send the body as application/json or application/vnd.safetensors (got \(request.headers[.contentType] ?? "no Content-Type"))",
                headers: [.accept: Self.requestMediaTypes.joined(separator: ", ")])
        }
        let coding = (request.headers[.contentEncoding] ?? "identity").lowercased().filter { $0 != " " && $0 != "\t" }
        guard ["identity", "gzip", "x-gzip", "deflate"].contains(coding) else {
            throw Problem(
                status: .unsupportedMediaType, detail: "Content-Encoding \(coding) is not supported; use gzip or deflate",
                headers: [.acceptEncoding: "gzip, deflate"])
        }
        guard let format = ResponseFormat(accept: request.headers[.accept]) else {
            throw Problem(status: .notAcceptable, detail: "responses are application/json or \(ResponseFormat.safetensorsMediaType)")
        }
        let body = try await collectBody(of: request)
        metrics.requestBodyBytes.record(body.readableBytes)

        let decoded: LossRequest = try body.withUnsafeReadableBytes { bytes in
            guard coding != "identity" else { return try decode(bytes, spare: body.writableBytes, mediaType: mediaType) }
            return try withInflated(bytes, coding: coding, limit: maximumBodySize, padding: JSONParser.requiredPadding) { inflated in
                try decode(inflated, spare: JSONParser.requiredPadding, mediaType: mediaType)
            }
        }
        let result: LossResult
        do {
            result = try evaluateLoss(decoded.inputs, configuration: decoded.configuration, tokenGradients: decoded.returnTokenGradients)
        } catch {
            throw Problem(error)
        }
        return respond(with: result, format: format, acceptEncoding: request.headers[.acceptEncoding])
    }

    /// The request from the (decoded) body bytes; `spare` readable bytes follow them.
    private func decode(_ bytes: UnsafeRawBufferPointer, spare: Int, mediaType: String) throws -> LossRequest {
        let decoded: LossRequest? = try parsers.withParser { parser in
            do {
                let format: RequestFormat = mediaType == ResponseFormat.safetensorsMediaType ? .safetensors : .json
                return try LossRequest(body: bytes, spare: spare, format: format, parser: parser)
            } catch let error as JSONSyntaxError {
                throw Problem(error)
            } catch let error as SafetensorsError {
                throw Problem(error)
            } catch let error as LossInputError {
                throw Problem(error)
            }
        }
        guard let decoded else {
            throw Problem(status: .serviceUnavailable, detail: "no memory for a JSON parser; retry later", headers: [.retryAfter: "1"])
        }
        return decoded
    }

    private func respond(with result: LossResult, format: ResponseFormat, acceptEncoding: String?) -> Response {
        var headers: HTTPFields = [.vary: "Accept, Accept-Encoding"]
        var bytes: [UInt8]
        switch format {
        case .json:
            headers[.contentType] = "application/json"
            bytes = result.jsonBytes()
        case .safetensors(let precision):
            headers[.contentType] = ResponseFormat.safetensorsMediaType
            bytes = result.safetensorsBytes(precision: precision)
        }
        if compressResponses, bytes.count >= Self.compressionThreshold, acceptsGzip(acceptEncoding), let compressed = gzipped(bytes) {
            headers[.contentEncoding] = "gzip"
            bytes = compressed
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The whole body in one buffer with simdjson's padding spare after it: sized from
    /// Content-Length when given, so it is copied once, not regrown. A body over the
    /// limit is refused as soon as its declared or received size shows it, and one that
    /// trickles in for longer than `bodyTimeout` gets 408.
    private func collectBody(of request: Request) async throws -> ByteBuffer {
        let declared = max(0, request.headers[.contentLength].flatMap(Int.init) ?? 0)
        guard declared <= maximumBodySize else { throw tooLarge() }
        let deadline = ContinuousClock.now + bodyTimeout
        var body = ByteBufferAllocator().buffer(capacity: declared + JSONParser.requiredPadding)
        do {
            for try await chunk in request.body {
                guard chunk.readableBytes <= maximumBodySize - body.readableBytes else { throw tooLarge() }
                guard ContinuousClock.now < deadline else {
                    throw Problem(
                        status: .requestTimeout, detail: "the request body took longer than \(bodyTimeout) to arrive",
                        headers: [.connection: "close"])
                }
                body.writeImmutableBuffer(chunk)
            }
        } catch let problem as Problem {
            throw problem
        } catch {
            // The client went away mid-body (or the idle timeout closed the connection).
            throw Problem(
                status: .badRequest, type: "\(Problem.typePrefix)incomplete-body", title: "Incomplete body",
                detail: "the connection closed before the request body was complete")
        }
        body.reserveCapacity(minimumWritableBytes: JSONParser.requiredPadding)
        return body
    }

    private func tooLarge() -> Problem {
        Problem(status: .contentTooLarge, detail: "request body exceeds the limit of \(maximumBodySize) bytes")
    }
}

/// The media type of a Content-Type (`application/json; charset=utf-8` → `application/json`), lowercased.
func mediaType(of contentType: String?) -> String {
    guard let contentType else { return "" }
    let mediaType = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    return mediaType.filter { $0 != " " && $0 != "\t" }.lowercased()
}
