/// A header value that does not follow its RFC 9110 grammar: where, and what was expected.
public struct HeaderSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The byte offset into the header value at which parsing failed.
    public var offset: Int
    /// What the grammar expected there, e.g. "expected a token".
    public var reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "\(reason) at byte \(offset)" }
}
