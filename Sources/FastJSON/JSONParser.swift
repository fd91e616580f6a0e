import CSimdjson

/// A reusable simdjson DOM parser. Use one parser from one task at a time
/// (`JSONParserPool` hands them out).
public final class JSONParser: @unchecked Sendable {
    private let handle: OpaquePointer

    /// Bytes of readable memory after a document that let the parser use it in place.
    public static let requiredPadding = csj_required_padding()

    /// A parser for documents of up to `maximumSize` bytes; nil when out of memory.
    public init?(maximumSize: Int) {
        guard let handle = csj_parser_create(maximumSize) else { return nil }
        self.handle = handle
    }

    deinit { csj_parser_destroy(handle) }

    /// The largest document the parser's buffers hold now: they grow to fit each document.
    public var capacity: Int { csj_parser_capacity(handle) }

    /// Parses `bytes` and hands the root value to `body`; the value and everything
    /// reached from it are valid only inside `body`.
    ///
    /// - Parameter spare: how many readable bytes follow `bytes` in memory; with
    ///   `requiredPadding` or more the document is parsed in place, else copied.
    /// - Throws: `JSONSyntaxError` with the byte offset of the first error, or
    ///   whatever `body` throws.
    public func parse<T>(_ bytes: UnsafeRawBufferPointer, spare: Int, _ body: (JSONValue) throws -> T) throws -> T {
        var root = csj_element()
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let code = bytes.isEmpty ? -1 : csj_parse(handle, base, bytes.count, max(spare, 0), &root)
        guard code == 0 else {
            throw locateSyntaxError(in: bytes)
                ?? JSONSyntaxError(offset: nil, reason: String(cString: csj_error_message(code)))
        }
        return try body(JSONValue(root))
    }
}
