import Synchronization

/// Parsers kept for reuse, so their buffers are not allocated for every document.
///
/// A parser's buffers grow to the largest document it has parsed (about 14 bytes of
/// address space per document byte), so only parsers of at most `maximumKeptCapacity`
/// are kept: memory held between requests stays bounded whatever sizes arrive.
public final class JSONParserPool: Sendable {
    private let idle = Mutex<[JSONParser]>([])
    private let maximumSize: Int
    private let keep: Int
    private let maximumKeptCapacity: Int

    /// - Parameters:
    ///   - maximumSize: the largest document a parser accepts, in bytes.
    ///   - keep: how many idle parsers to keep; more are freed after use.
    ///   - maximumKeptCapacity: parsers whose capacity grew past this are freed after use. The
    ///     default keeps one for a 64 × 2048 trainer batch of long numbers (6.25 MB), which then
    ///     reuses its index and tape instead of faulting in about 10 MB of them afresh.
    public init(maximumSize: Int, keep: Int = 2, maximumKeptCapacity: Int = 8 << 20) {
        self.maximumSize = maximumSize
        self.keep = keep
        self.maximumKeptCapacity = maximumKeptCapacity
    }

    /// Runs `body` with a parser of its own; nil when no parser could be allocated.
    public func withParser<T>(_ body: (JSONParser) throws -> T) rethrows -> T? {
        guard let parser = idle.withLock({ $0.popLast() }) ?? JSONParser(maximumSize: maximumSize) else { return nil }
        defer {
            if parser.capacity <= maximumKeptCapacity {
                idle.withLock { parsers in
                    if parsers.count < keep { parsers.append(parser) }
                }
            }
        }
        return try body(parser)
    }
}
