/// Which part of an optimizer step a batch is (`X-Run-Part`): the data-parallel rank that sent
/// it, of how many, and its micro-batch, of how many make up the step on that rank (for eval,
/// the eval batch of how many on that rank).
///
///     X-Run-Part = rank "/" ranks SP micro "/" micros    ; exactly one space
///     rank, ranks, micro, micros = 1*5DIGIT              ; leading zeros allowed
///
/// with rank < ranks ≤ `maximumCount` and micro < micros ≤ `maximumCount`.
public struct RunPart: Hashable, Sendable {
    /// The most ranks, and the most micro-batches per rank, a step may have.
    public static let maximumCount = 65536
    /// A step sent as one request: `0/1 0/1`, what a stepped request without `X-Run-Part` is.
    public static let whole = RunPart(rank: 0, ranks: 1, micro: 0, micros: 1)

    public var rank: Int
    public var ranks: Int
    public var micro: Int
    public var micros: Int

    private init(rank: Int, ranks: Int, micro: Int, micros: Int) {
        self.rank = rank
        self.ranks = ranks
        self.micro = micro
        self.micros = micros
    }

    /// Parses an `X-Run-Part` value.
    /// - Throws: `HeaderSyntaxError` at the first byte outside the grammar, or at a count out of bounds.
    public init(parsing text: String) throws(HeaderSyntaxError) {
        var scanner = HeaderScanner(text)
        let (rank, ranks) = try Self.index(of: "rank", "ranks", in: &scanner)
        guard scanner.consume(0x20) else { throw scanner.error("expected one space after the ranks") }
        let (micro, micros) = try Self.index(of: "micro-batch", "micro-batches", in: &scanner)
        guard scanner.isAtEnd else { throw scanner.error("expected the end of the value") }
        self.init(rank: rank, ranks: ranks, micro: micro, micros: micros)
    }

    /// `index "/" count`, with index < count ≤ `maximumCount`.
    private static func index(
        of index: String, _ count: String, in scanner: inout HeaderScanner
    ) throws(HeaderSyntaxError) -> (Int, Int) {
        let digits = 5
        let value = try scanner.decimal("a \(index)", maximumDigits: digits)
        guard scanner.consume(UInt8(ascii: "/")) else { throw scanner.error("expected '/' after the \(index)") }
        let countStart = scanner.position
        let total = try scanner.decimal("the number of \(count)", maximumDigits: digits)
        guard (1 ... maximumCount).contains(total) else {
            throw HeaderSyntaxError(offset: countStart, reason: "expected 1 to \(maximumCount) \(count)")
        }
        guard value < total else {
            throw HeaderSyntaxError(offset: countStart, reason: "expected more \(count) than the \(index) \(value)")
        }
        return (value, total)
    }
}
