import Synchronization

/// Parsers kept for reuse, so their buffers are not allocated for every document.
public final class JSONParserPool: Sendable {
    private let idle = Mutex<[JSONParser]>([])
    private let maximumSize: Int
    private let keep: Int

    /// - Parameters:
    ///   - maximumSize: the largest document a parser accepts, in bytes.
    ///   - keep: how many idle parsers to keep; more are freed after use.
    public init(maximumSize: Int, keep: Int) {
        self.maximumSize = maximumSize
        self.keep = keep
    }

    /// Runs `body` with a parser of its own; nil when no parser could be allocated.
    public func withParser<T>(_ body: (JSONParser) throws -> T) rethrows -> T? {
        guard let parser = idle.withLock({ $0.popLast() }) ?? JSONParser(maximumSize: maximumSize) else { return nil }
        defer {
            idle.withLock { parsers in
                if parsers.count < keep { parsers.append(parser) }
            }
        }
        return try body(parser)
    }
}
