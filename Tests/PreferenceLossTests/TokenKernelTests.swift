@testable import PreferenceLoss
import SeededRandom
import Testing

/// The per-token kernels against plain Swift over the same values, in every element type.
@Suite struct TokenKernelTests {
    /// Random rows of 0 to 40 values (every tail length of the eight lanes) with random flags.
    private func randomRows(using generator: inout SplitMix64) -> (rows: RaggedRows<Double>, flags: [Bool]) {
        var rows = RaggedRows<Double>()
        var flags: [Bool] = []
        for _ in 0 ..< 60 {
            for _ in 0 ..< Int.random(in: 0 ... 40, using: &generator) {
                rows.append(-Double.random(in: 0 ..< 8, using: &generator))
                flags.append(Bool.random(using: &generator))
            }
            rows.closeRow()
        }
        return (rows, flags)
    }

    /// The rows stored in `type`, and the doubles they hold exactly.
    private func stored(_ rows: RaggedRows<Double>, as type: String) throws -> TokenValues {
        let storage: TokenValues.Storage = switch type {
        case "f64": .float64(rows.values)
        case "f32": .float32(rows.values.map { Float($0) })
        case "f16": .float16(rows.values.map { Float16($0).bitPattern })
        default: .bfloat16(rows.values.map { UInt16(truncatingIfNeeded: Float($0).bitPattern >> 16) })
        }
        return try #require(TokenValues(storage, rowOffsets: rows.rowOffsets))
    }

    @Test(arguments: ["f64", "f32", "f16", "bf16"])
    func rowSumsMatchPlainSums(_ type: String) throws {
        var generator = SplitMix64(state: 14)
        let (rows, flags) = randomRows(using: &generator)
        let values = try stored(rows, as: type)
        for selected in [nil, flags] {
            let (sums, counts, finite) = values.rowSums(selected: selected)
            for row in 0 ..< values.rowCount {
                let indices = values.rowOffsets[row] ..< values.rowOffsets[row + 1]
                let kept = indices.filter { selected?[$0] ?? true }.map(values.value(at:))
                #expect(counts[row] == kept.count && finite[row])
                #expect(isClose(sums[row], kept.reduce(0, +), relative: 1e-14), "\(type) row \(row)")
                let magnitudes = values.rowSums(selected: selected, magnitudes: true).sums
                #expect(isClose(magnitudes[row], kept.reduce(0) { $0 + abs($1) }, relative: 1e-14))
            }
        }
    }

    @Test func anyNonFiniteValueMarksItsRowSelectedOrNot() throws {
        for bad in [Double.infinity, -.infinity, .nan] {
            for position in 0 ..< 19 {
                var row = Array(repeating: -1.0, count: 19)
                row[position] = bad
                let values = TokenValues(RaggedRows([row, [-1, -2]]))
                let flags = (0 ..< 21).map { $0 != position }
                #expect(values.rowSums(selected: flags).finite == [false, true], "\(bad) at \(position)")
            }
        }
    }

    @Test func everyHalfConvertsExactly() throws {
        let bits = (0 ... UInt16.max).map { $0 }
        let values = try #require(TokenValues(.float16(bits), rows: bits.count, width: 1))
        let (sums, _, finite) = values.rowSums(selected: nil)
        #expect(sums.count == bits.count && finite.count == bits.count)
        for (pattern, (sum, isFinite)) in zip(bits, zip(sums, finite)) {
            let half = Float16(bitPattern: pattern)
            #expect(isFinite == half.isFinite)
            if half.isFinite { #expect(sum == Double(half), "\(pattern)") }
        }
    }

    @Test func gradientFillsMatchAPlainLoop() {
        var generator = SplitMix64(state: 15)
        let (rows, selected) = randomRows(using: &generator)
        let direct = selected.map { _ in Bool.random(using: &generator) }
        let rowGradients = (0 ..< rows.rowCount).map { _ in Double.random(in: -1 ... 1, using: &generator) }
        for (selection, directTokens) in [(nil, nil), (selected, nil), (selected, direct), (nil, direct)] as [([Bool]?, [Bool]?)] {
            let filled = filledGradients(rowOffsets: rows.rowOffsets, selected: selection, direct: directTokens, rowGradients: rowGradients, coefficient: 0.25).values
            for row in 0 ..< rows.rowCount {
                for index in rows.rowOffsets[row] ..< rows.rowOffsets[row + 1] {
                    let isSelected = selection?[index] ?? true
                    var expected = isSelected ? rowGradients[row] : 0
                    if directTokens?[index] ?? isSelected { expected += 0.25 }
                    #expect(filled[index] == expected)
                }
            }
        }
    }

    @Test func fillsSayWhetherEveryGradientIsFinite() {
        for (rowGradients, coefficient, direct) in [([Double.infinity], 0.0, nil), ([1.0], .nan, nil), ([1e308], 1e308, nil), ([1.0], .infinity, [false, true])] as [([Double], Double, [Bool]?)] {
            #expect(!filledGradients(rowOffsets: [0, 2], selected: nil, direct: direct, rowGradients: rowGradients, coefficient: coefficient).finite)
        }
        #expect(filledGradients(rowOffsets: [0, 2], selected: nil, direct: nil, rowGradients: [1], coefficient: 2).finite)
    }

    @Test func maskBytesAreZeroOrOne() throws {
        #expect(try [UInt8]([0, 1, 1, 0]).withUnsafeBytes { bytes throws(NonBinaryByte) in try flags(fromBytes: bytes) } == [false, true, true, false])
        for position in [0, 63, 64, 100] {
            var bytes = [UInt8](repeating: 1, count: 101)
            bytes[position] = 2
            #expect(throws: NonBinaryByte(index: position)) { try bytes.withUnsafeBytes { bytes throws(NonBinaryByte) in try flags(fromBytes: bytes) } }
        }
    }

    @Test func bfloat16Detection() throws {
        let exact = TokenValues(RaggedRows([[-0.375, -0.5, 0], [-2]]))
        #expect(exact.selectedBFloat16(selected: nil).map { [$0.count] } == [4])
        let inexact = TokenValues(RaggedRows([[-0.375, -0.3], [-2]]))
        #expect(inexact.selectedBFloat16(selected: nil) == nil)
        #expect(inexact.selectedBFloat16(selected: [true, false, true])?.count == 2, "unselected values do not count")
    }
}
