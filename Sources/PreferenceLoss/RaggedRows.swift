/// Rows of varying length stored one after another in a single array.
///
/// Row `i` is `values[rowOffsets[i] ..< rowOffsets[i + 1]]`. Build one row at a
/// time with `append(_:)` and `closeRow()`, or from nested arrays.
public struct RaggedRows<Element: Sendable>: Sendable {
    public private(set) var values: [Element] = []
    /// Start of every row, then the end of the last: always `rowCount + 1` entries.
    public private(set) var rowOffsets: [Int] = [0]

    /// No rows.
    public init() {}

    /// The given rows, in order.
    public init(_ rows: [[Element]]) {
        for row in rows {
            values.append(contentsOf: row)
            closeRow()
        }
    }

    /// Rows over `values` split at `rowOffsets`; nil unless the offsets start at 0,
    /// never decrease, and end at `values.count`.
    public init?(values: [Element], rowOffsets: [Int]) {
        guard rowOffsetsAreValid(rowOffsets, count: values.count) else { return nil }
        self.init(values: values, trustedRowOffsets: rowOffsets)
    }

    /// Rows over `values` with offsets already known to be valid (0 first, ascending, `values.count` last).
    init(values: [Element], trustedRowOffsets: [Int]) {
        self.values = values
        self.rowOffsets = trustedRowOffsets
    }

    public var rowCount: Int { rowOffsets.count - 1 }

    /// The number of entries in row `row`.
    public func length(ofRow row: Int) -> Int { rowOffsets[row + 1] - rowOffsets[row] }

    /// The entries of row `row`, indexed by their position in `values`.
    public func row(_ row: Int) -> ArraySlice<Element> { values[rowOffsets[row] ..< rowOffsets[row + 1]] }

    /// Adds an entry to the row being built.
    public mutating func append(_ value: Element) { values.append(value) }

    /// Ends the row being built; the next `append` starts a new row.
    public mutating func closeRow() { rowOffsets.append(values.count) }
}

extension RaggedRows: Equatable where Element: Equatable {}

/// Whether `offsets` split `count` elements into rows: they start at 0, never decrease and end
/// at `count`. The one check behind `RaggedRows` and `TokenValues`.
func rowOffsetsAreValid(_ offsets: [Int], count: Int) -> Bool {
    offsets.first == 0 && offsets.last == count && zip(offsets, offsets.dropFirst()).allSatisfy { $0 <= $1 }
}
