import FastJSON
import HTTPTypes
import HeaderGrammar
import Hummingbird
import Safetensors
import PreferenceLossCodec
import PreferenceLoss

/// An RFC 9457 problem: every error this service returns, as `application/problem+json`.
struct Problem: Error, HTTPResponseError {
    /// Every problem type is this prefix and a slug.
    static let typePrefix = "urn:prefloss:problem:"

    /// One offending field: its JSON pointer and what is wrong with it.
    struct FieldError {
        var pointer: String
        var detail: String
    }

    var status: HTTPResponse.Status
    /// A stable identifier of the kind of problem, e.g. `urn:prefloss:problem:invalid-input`.
    var type: String
    var title: String
    var detail: String
    var errors: [FieldError] = []
    /// The byte offset of a JSON or header syntax error.
    var offset: Int?
    /// The header a malformed-header problem is about.
    var header: String?
    var headers: HTTPFields = [:]

    /// The longest `detail` a problem carries; anything a client sent is shorter still (`echo`).
    static let maximumDetailBytes = 1024

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
        writer.value(type)
        writer.key("title")
        writer.value(title)
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
            writer.value(["pointer": error.pointer, "detail": echo(error.detail, maximumBytes: Self.maximumDetailBytes)])
        }
        writer.endArray()
        writer.endObject()
        return ByteBuffer(bytes: writer.bytes)
    }
}

extension Problem {
    /// A request whose content fails validation: 422 listing every issue.
    init(_ error: RequestError) {
        let errors = error.issues.map { FieldError(pointer: $0.location.jsonPointer, detail: $0.message) }
        let first = error.issues.first.map { "\($0.location.jsonPointer.isEmpty ? "/" : $0.location.jsonPointer): \($0.message)" } ?? "invalid input"
        self.init(
            status: .unprocessableContent, type: "urn:prefloss:problem:invalid-input", title: "Invalid input",
            detail: error.issues.count > 1 ? "\(first) (and \(error.issues.count - 1) more)" : first,
            errors: errors)
    }

    /// A body that is not JSON: 400 with the byte offset.
    init(_ error: JSONSyntaxError) {
        self.init(
            status: .badRequest, type: "urn:prefloss:problem:malformed-json", title: "Malformed JSON",
            detail: "request body is not valid JSON: \(error)", offset: error.offset)
    }

    /// A header that breaks its RFC 9110 grammar: 400 naming the header and the byte offset.
    init(malformedHeader name: HTTPField.Name, _ error: HeaderSyntaxError) {
        self.init(
            status: .badRequest, type: "\(Problem.typePrefix)malformed-header", title: "Malformed header",
            detail: "the \(name.rawName) header is malformed: \(error.reason) at byte \(error.offset)",
            offset: error.offset, header: name.rawName)
    }

    /// A problem for any HTTP status, named by its reason phrase.
    init(status: HTTPResponse.Status, detail: String, headers: HTTPFields = [:]) {
        let slug = status.reasonPhrase.lowercased().split(separator: " ").joined(separator: "-")
        self.init(status: status, type: "\(Problem.typePrefix)\(slug)", title: status.reasonPhrase, detail: detail, headers: headers)
    }
}

extension Problem {
    /// A body that is not a well-formed safetensors file: 400, naming the tensor when there is one.
    init(_ error: SafetensorsError) {
        self.init(
            status: .badRequest, type: "urn:prefloss:problem:malformed-safetensors", title: "Malformed safetensors",
            detail: "request body is not valid safetensors: \(error)",
            errors: error.tensor.map { [FieldError(pointer: FieldPath($0).jsonPointer, detail: error.reason)] } ?? [])
    }
}
