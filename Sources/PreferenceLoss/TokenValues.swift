import CLossKernel

/// Per-token values in rows, kept in the element type they arrived in: a float32 tensor is
/// read as float32 by the loss, never converted to a copy in double first.
public struct TokenValues: Sendable {
    /// The elements, all rows in order.
    public enum Storage: Sendable {
        case float64([Double])
        case float32([Float])
        /// IEEE binary16 bit patterns.
        case float16([UInt16])
        /// bfloat16 bit patterns (the high half of a float32).
        case bfloat16([UInt16])
    }

    public let storage: Storage
    /// Row i is elements `rowOffsets[i] ..< rowOffsets[i + 1]`.
    public let rowOffsets: [Int]

    /// Ragged rows of doubles, as JSON carries them.
    public init(_ rows: RaggedRows<Double>) {
        storage = .float64(rows.values)
        rowOffsets = rows.rowOffsets
    }

    /// `rows` rows of `width` elements each; nil unless `storage` holds exactly `rows × width`.
    public init?(_ storage: Storage, rows: Int, width: Int) {
        guard rows >= 0, width >= 0, case (let product, false) = rows.multipliedReportingOverflow(by: width),
            product == storage.count
        else { return nil }
        self.init(storage, rowOffsets: (0 ... rows).map { $0 * width })
    }

    /// Ragged rows split at `rowOffsets`; nil unless they start at 0, never decrease and end at
    /// the element count.
    public init?(_ storage: Storage, rowOffsets: [Int]) {
        guard rowOffsetsAreValid(rowOffsets, count: storage.count) else { return nil }
        self.storage = storage
        self.rowOffsets = rowOffsets
    }

    public var rowCount: Int { rowOffsets.count - 1 }

    public func length(ofRow row: Int) -> Int { rowOffsets[row + 1] - rowOffsets[row] }
    /// How many elements all rows hold.
    public var count: Int { storage.count }

    /// Element `index` (of all rows in order) as a double, exactly.
    public func value(at index: Int) -> Double {
        switch storage {
        case .float64(let values): return values[index]
        case .float32(let values): return Double(values[index])
        case .float16(let bits): return pl_float16_to_double(bits[index])
        case .bfloat16(let bits): return pl_bfloat16_to_double(bits[index])
        }
    }

    /// Calls `body` with the elements' base address and type, for the kernel.
    func withElements<R>(_ body: (UnsafeRawPointer?, pl_dtype) -> R) -> R {
        switch storage {
        case .float64(let values): return values.withUnsafeBytes { body($0.baseAddress, PL_FLOAT64) }
        case .float32(let values): return values.withUnsafeBytes { body($0.baseAddress, PL_FLOAT32) }
        case .float16(let bits): return bits.withUnsafeBytes { body($0.baseAddress, PL_FLOAT16) }
        case .bfloat16(let bits): return bits.withUnsafeBytes { body($0.baseAddress, PL_BFLOAT16) }
        }
    }
}

extension TokenValues.Storage {
    var count: Int {
        switch self {
        case .float64(let values): return values.count
        case .float32(let values): return values.count
        case .float16(let bits), .bfloat16(let bits): return bits.count
        }
    }
}
