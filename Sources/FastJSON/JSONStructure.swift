import CSimdjson

/// How much structure a JSON text has, counted before it is parsed: what parsing it holds (the
/// parser's index and tape, the values decoded from it) grows with its values and containers.
public struct JSONStructure: Sendable, Equatable {
    /// Commas: one after every value but the last of each array or object.
    public var commas: Int
    /// `[`, `{` and `:`: one per array, object and member.
    public var openings: Int

    public init(commas: Int, openings: Int) {
        self.commas = commas
        self.openings = openings
    }

    /// Counts the bytes of `text`, inside strings too (so it never counts fewer than the
    /// document has), at several bytes per cycle.
    public init(counting text: UnsafeRawBufferPointer) {
        var commas = 0
        var openings = 0
        if let base = text.baseAddress {
            csj_count_structure(base.assumingMemoryBound(to: UInt8.self), text.count, &commas, &openings)
        }
        self.commas = commas
        self.openings = openings
    }
}
