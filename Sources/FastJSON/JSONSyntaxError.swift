/// Why a document is not valid JSON, and where.
public struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Byte offset of the first offending byte, when known.
    public var offset: Int?
    public var reason: String

    public init(offset: Int?, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String {
        offset.map { "\(reason) at byte \($0)" } ?? reason
    }
}
