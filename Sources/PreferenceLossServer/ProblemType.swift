import FastJSON
import HTTPTypes
import HeaderGrammar
import NIOHTTP1
import PreferenceLoss
import PreferenceLossCodec
import Safetensors
import ZlibCoding

/// Every kind of problem the service answers with. The raw value is the slug of the type's
/// URN (`urn:prefloss:problem:<slug>`) and the `type` label of `prefloss_http_problems_total`;
/// `openapi.yaml` lists the same URNs.
enum ProblemType: String, CaseIterable, Sendable {
    case malformedJSON = "malformed-json"
    case malformedSafetensors = "malformed-safetensors"
    case malformedEncoding = "malformed-encoding"
    case malformedHeader = "malformed-header"
    case malformedRequest = "malformed-request"
    case incompleteBody = "incomplete-body"
    case unauthorized = "unauthorized"
    case notFound = "not-found"
    case methodNotAllowed = "method-not-allowed"
    case notAcceptable = "not-acceptable"
    case requestTimeout = "request-timeout"
    case contentTooLarge = "content-too-large"
    case answerTooLarge = "answer-too-large"
    case unsupportedMediaType = "unsupported-media-type"
    case expectationFailed = "expectation-failed"
    case invalidInput = "invalid-input"
    case requestHeaderFieldsTooLarge = "request-header-fields-too-large"
    case internalServerError = "internal-server-error"
    case notImplemented = "not-implemented"
    case serviceUnavailable = "service-unavailable"
    /// Never sent: counts (in `/metrics` and the log) the requests whose client left before the answer.
    case clientClosedRequest = "client-closed-request"

    /// The problem document's `type`.
    var uri: String { "urn:prefloss:problem:\(rawValue)" }

    var title: String { definition.title }

    var status: HTTPResponse.Status { definition.status }

    /// Each type's title and status, written once.
    private var definition: (title: String, status: HTTPResponse.Status) {
        switch self {
        case .malformedJSON: ("Malformed JSON", .badRequest)
        case .malformedSafetensors: ("Malformed safetensors", .badRequest)
        case .malformedEncoding: ("Malformed content encoding", .badRequest)
        case .malformedHeader: ("Malformed header", .badRequest)
        case .malformedRequest: ("Malformed request", .badRequest)
        case .incompleteBody: ("Incomplete body", .badRequest)
        case .unauthorized: ("Unauthorized", .unauthorized)
        case .notFound: ("Not Found", .notFound)
        case .methodNotAllowed: ("Method Not Allowed", .methodNotAllowed)
        case .notAcceptable: ("Not Acceptable", .notAcceptable)
        case .requestTimeout: ("Request Timeout", .requestTimeout)
        case .contentTooLarge: ("Content Too Large", .contentTooLarge)
        case .answerTooLarge: ("Answer Too Large", .contentTooLarge)
        case .unsupportedMediaType: ("Unsupported Media Type", .unsupportedMediaType)
        case .expectationFailed: ("Expectation Failed", .expectationFailed)
        case .invalidInput: ("Invalid input", .unprocessableContent)
        case .requestHeaderFieldsTooLarge: ("Request Header Fields Too Large", .requestHeaderFieldsTooLarge)
        case .internalServerError: ("Internal Server Error", .internalServerError)
        case .notImplemented: ("Not Implemented", .notImplemented)
        case .serviceUnavailable: ("Service Unavailable", .serviceUnavailable)
        // nginx's code for it.
        case .clientClosedRequest: ("Client Closed Request", HTTPResponse.Status(code: 499))
        }
    }
}

// The one place that maps errors to problems: the other modules' errors, and the problems
// more than one step of the service answers with.
extension Problem {
    /// A request whose content fails validation: 422 listing every issue.
    init(_ error: RequestError) {
        let errors = error.issues.map { FieldError(pointer: $0.location.jsonPointer, detail: $0.message) }
        let first =
            error.issues.first.map {
                "\($0.location.jsonPointer.isEmpty ? "/" : $0.location.jsonPointer): \($0.message)"
            } ?? "invalid input"
        self.init(
            .invalidInput, detail: error.issues.count > 1 ? "\(first) (and \(error.issues.count - 1) more)" : first,
            errors: errors)
    }

    /// A body that is not JSON: 400 with the byte offset.
    init(_ error: JSONSyntaxError) {
        self.init(.malformedJSON, detail: "request body is not valid JSON: \(error)", offset: error.offset)
    }

    /// A body that is not a well-formed safetensors file: 400, naming the tensor when there is one.
    init(_ error: SafetensorsError) {
        self.init(
            .malformedSafetensors, detail: "request body is not valid safetensors: \(error)",
            errors: error.tensor.map { [FieldError(pointer: FieldPath($0).jsonPointer, detail: error.reason)] } ?? []
        )
    }

    /// A header that breaks its RFC 9110 grammar: 400 naming the header and the byte offset.
    init(malformedHeader name: HTTPField.Name, _ error: HeaderSyntaxError) {
        self.init(
            .malformedHeader,
            detail: "the \(name.rawName) header is malformed: \(error.reason) at byte \(error.offset)",
            offset: error.offset, header: name.rawName)
    }

    /// A compressed body that could not be inflated.
    init(_ error: InflateError, coding: String, limit: Int) {
        switch error {
        case .tooLarge:
            self.init(.contentTooLarge, detail: "\(coding) body inflates to more than the limit of \(limit) bytes")
        case .refused: self = .unavailable("no room to inflate the body; retry later")
        case .noMemory: self = .unavailable("no memory to inflate the body; retry later")
        case .truncated: self.init(.malformedEncoding, detail: "\(coding) body ends before its end marker (truncated)")
        case .corrupt: self.init(.malformedEncoding, detail: "body is not valid \(coding) data")
        }
    }

    /// A request the HTTP parser rejected.
    init(_ error: HTTPParserError) {
        switch error {
        case .headerOverflow:
            self.init(
                .requestHeaderFieldsTooLarge, detail: "the request head is larger than the server accepts (80 KiB)")
        case .invalidContentLength, .unexpectedContentLength:
            self.init(
                .malformedRequest, detail: "the Content-Length header is invalid or conflicts with the body's framing")
        case .invalidChunkSize:
            self.init(.malformedRequest, detail: "a chunk size of the chunked body is invalid")
        default:
            self.init(.malformedRequest, detail: "the request is not valid HTTP/1.1 (\(error))")
        }
    }

    /// 503 with `Retry-After: 1`: the server cannot take the request now, and may shortly.
    static func unavailable(_ detail: String) -> Problem {
        Problem(.serviceUnavailable, detail: detail, headers: [.retryAfter: "1"])
    }

    /// The answer to a request whose client has gone, so that it is counted and logged (as nginx does).
    static let clientClosedRequest = Problem(
        .clientClosedRequest, detail: "the client closed the connection before the answer; its work was stopped")

    /// 413 for a body longer than `limit` bytes as sent.
    static func bodyTooLarge(limit: Int) -> Problem {
        Problem(.contentTooLarge, detail: "request body exceeds the limit of \(limit) bytes")
    }
}
