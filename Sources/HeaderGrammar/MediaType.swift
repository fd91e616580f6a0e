/// A `Content-Type` value: `type "/" subtype parameters` (RFC 9110 §8.3.1).
public struct MediaType: Equatable, Sendable {
    /// Lowercased, e.g. `application`.
    public var type: String
    /// Lowercased, e.g. `json`.
    public var subtype: String
    public var parameters: [HeaderParameter]

    /// `type/subtype`, without parameters.
    public var essence: String { "\(type)/\(subtype)" }

    /// Parses a Content-Type header value.
    public init(parsing text: String) throws(HeaderSyntaxError) {
        var scanner = HeaderScanner(text)
        scanner.skipWhitespace()
        self = try MediaType(scanning: &scanner)
        try scanner.expectEnd()
    }

    init(scanning scanner: inout HeaderScanner) throws(HeaderSyntaxError) {
        type = try scanner.token("a media type")
        guard scanner.consume(UInt8(ascii: "/")) else { throw scanner.error("expected '/' after the type") }
        subtype = try scanner.token("a media subtype")
        parameters = try scanner.parameters()
    }
}
