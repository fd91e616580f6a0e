import FastJSON
import HTTPTypes
import Hummingbird
import PreferenceLossCodec

/// An RFC 9457 problem: every error this service returns, as `application/problem+json`.
/// Its type, title and status come from its `ProblemType`.
struct Problem: Error, HTTPResponseError {
    /// One offending field: its JSON pointer and what is wrong with it.
    struct FieldError {
        var pointer: String
        var detail: String
    }

    var type: ProblemType
    var detail: String
    var errors: [FieldError]
    /// The byte offset of a JSON or header syntax error.
    var offset: Int?
    /// The header a malformed-header problem is about.
    var header: String?
    var headers: HTTPFields

    var status: HTTPResponse.Status { type.status }

    /// The longest `detail` a problem carries; anything a client sent is shorter still (`echo`).
    static let maximumDetailBytes = 1024

    init(
        _ type: ProblemType, detail: String, errors: [FieldError] = [], offset: Int? = nil, header: String? = nil,
        headers: HTTPFields = [:]
    ) {
        self.type = type
        self.detail = detail
        self.errors = errors
        self.offset = offset
        self.header = header
        self.headers = headers
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: body()))
    }

    /// The problem document.
    func body() -> ByteBuffer {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("type")
        writer.value(type.uri)
        writer.key("title")
        writer.value(type.title)
        writer.key("status")
        writer.value(Int(status.code))
        writer.key("detail")
        writer.value(echo(detail, maximumBytes: Self.maximumDetailBytes))
        if let offset {
            writer.key("offset")
            writer.value(offset)
        }
        if let header {
            writer.key("header")
            writer.value(header)
        }
        writer.key("errors")
        writer.beginArray()
        for error in errors {
            let detail = echo(error.detail, maximumBytes: Self.maximumDetailBytes)
            writer.value(["pointer": error.pointer, "detail": detail])
        }
        writer.endArray()
        writer.endObject()
        return ByteBuffer(bytes: writer.bytes)
    }
}
