import CLossKernel

/// The per-token passes of the loss, in `CLossKernel`.
extension TokenValues {
    /// Per row: the sum of the selected values (every value when `selected` is nil), or of
    /// their magnitudes; how many were selected; whether every value of the row is finite.
    ///
    /// Sums are accumulated in double in eight interleaved lanes combined in a fixed order, so
    /// they may differ from a left-to-right sum by rounding (at most about n·2⁻⁵³·Σ|x| for n
    /// values), and depend only on the row's values and their positions.
    func rowSums(selected: [Bool]?, magnitudes: Bool = false) -> (sums: [Double], counts: [Int], finite: [Bool]) {
        let rows = rowCount
        var sums = [Double](repeating: 0, count: rows), counts = [Int](repeating: 0, count: rows)
        var finite = [Bool](repeating: false, count: rows)
        withElements { elements, dtype in
            withFlags(selected) { flags in
                rowOffsets.withUnsafeBufferPointer { offsets in
                    finite.withUnsafeMutableBytes { finiteBytes in
                        pl_row_sums(
                            elements, dtype, flags, offsets.baseAddress, rows, magnitudes ? 1 : 0, &sums, &counts,
                            finiteBytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
                    }
                }
            }
        }
        return (sums, counts, finite)
    }

    /// `rowSums(selected:)`, and each row's sum of the selected values of `other` (rows shaped
    /// as these), whose finiteness is not tested: in one pass when both have one element type.
    func rowSums(
        selected: [Bool]?, alongside other: TokenValues
    ) -> (sums: [Double], counts: [Int], finite: [Bool], otherSums: [Double]) {
        // The kernel reads every value of `other` in these rows' ranges.
        precondition(other.rowOffsets == rowOffsets, "values alongside must have the rows' shape")
        let rows = rowCount
        var sums = [Double](repeating: 0, count: rows), otherSums = sums, counts = [Int](repeating: 0, count: rows)
        var finite = [Bool](repeating: false, count: rows)
        let paired = withElements { elements, dtype in
            other.withElements { otherElements, otherType in
                guard otherType == dtype else { return false }
                withFlags(selected) { flags in
                    rowOffsets.withUnsafeBufferPointer { offsets in
                        finite.withUnsafeMutableBytes { finiteBytes in
                            pl_row_sums_paired(
                                elements, otherElements, dtype, flags, offsets.baseAddress, rows, &sums, &otherSums,
                                &counts, finiteBytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
                        }
                    }
                }
                return true
            }
        }
        guard paired else {
            let own = rowSums(selected: selected)
            return (own.sums, own.counts, own.finite, other.rowSums(selected: selected).sums)
        }
        return (sums, counts, finite, otherSums)
    }

    /// How many values `selected` selects and whether any is non-zero, when every one of them
    /// is exactly a bfloat16 value; nil as soon as one is not.
    func selectedBFloat16(selected: [Bool]?) -> (count: Int, nonzero: Bool)? {
        var count = 0
        var nonzero: Int32 = 0
        let all = withElements { elements, dtype in
            withFlags(selected) { flags in pl_all_bfloat16(elements, dtype, flags, self.count, &count, &nonzero) }
        }
        return all != 0 ? (count, nonzero != 0) : nil
    }
}

/// Token gradients of rows whose selected tokens share one gradient: token i of row r gets
/// `rowGradients[r]` when selected, plus `coefficient` when it is one of `direct` (the selected
/// tokens when nil); and whether every one is finite.
func filledGradients(
    rowOffsets: [Int], selected: [Bool]?, direct: [Bool]?, rowGradients: [Double], coefficient: Double
) -> (values: [Double], finite: Bool) {
    let count = rowOffsets.last ?? 0
    var finite: Int32 = 1
    let values = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
        finite = withFlags(selected) { selectedFlags in
            withFlags(direct) { directFlags in
                pl_fill_gradients(
                    selectedFlags, directFlags, rowOffsets, rowOffsets.count - 1, rowGradients, coefficient,
                    buffer.baseAddress)
            }
        }
        initialized = count
    }
    return (values, finite != 0)
}

/// Per label, whether it differs from `padTokenID`.
func selectionFlags(labels: [Int64], padTokenID: Int64) -> [Bool] {
    [Bool](unsafeUninitializedCapacity: labels.count) { buffer, initialized in
        UnsafeMutableRawBufferPointer(buffer).withMemoryRebound(to: UInt8.self) { bytes in
            pl_flags_from_labels(labels, labels.count, padTokenID, bytes.baseAddress)
        }
        initialized = labels.count
    }
}

/// Calls `body` with the flags as bytes (0 or 1), or nil.
private func withFlags<R>(_ flags: [Bool]?, _ body: (UnsafePointer<UInt8>?) -> R) -> R {
    guard let flags else { return body(nil) }
    return flags.withUnsafeBytes { body($0.baseAddress?.assumingMemoryBound(to: UInt8.self)) }
}

/// A byte of a mask that is neither 0 nor 1.
public struct NonBinaryByte: Error, Equatable {
    /// Its index.
    public var index: Int
}

/// Mask bytes as flags, copied as one block once every byte is checked to be 0 or 1.
public func flags(fromBytes bytes: UnsafeRawBufferPointer) throws(NonBinaryByte) -> [Bool] {
    let bad = pl_first_non_binary(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
    guard bad < 0 else { throw NonBinaryByte(index: bad) }
    return [Bool](unsafeUninitializedCapacity: bytes.count) { buffer, initialized in
        UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes)
        initialized = bytes.count
    }
}
