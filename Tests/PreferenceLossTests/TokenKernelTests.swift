import SeededRandom
import Testing

@testable import PreferenceLoss

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
        let storage: TokenValues.Storage =
            switch type {
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

    /// The paired pass (one element type) and the two passes it falls back to (two types) give
    /// `rowSums`' results for the values, and for the values alongside the sums of their selected ones.
    @Test(arguments: ["f64", "f32", "f16", "bf16"])
    func pairedRowSumsMatchRowSums(_ type: String) throws {
        var generator = SplitMix64(state: 15)
        let (rows, flags) = randomRows(using: &generator)
        let values = try stored(rows, as: type)
        let other = RaggedRows(values: rows.values.map { $0 * 0.75 - 1 }, trustedRowOffsets: rows.rowOffsets)
        for alongside in [try stored(other, as: type), try stored(other, as: type == "f64" ? "f32" : "f64")] {
            for selected in [nil, flags] {
                let paired = values.rowSums(selected: selected, alongside: alongside)
                let own = values.rowSums(selected: selected)
                #expect(paired.sums == own.sums && paired.counts == own.counts && paired.finite == own.finite)
                #expect(paired.otherSums == alongside.rowSums(selected: selected).sums, "\(type)")
            }
        }
        // A non-finite value alongside is not tested, but a selected one makes its row's sum non-finite.
        let bad = TokenValues(RaggedRows([[-1, .nan, -3], [-1, -2]]))
        let plain = TokenValues(RaggedRows([[-1, -2, -3], [-1, -2]]))
        let sums = plain.rowSums(selected: [true, true, true, true, true], alongside: bad)
        #expect(sums.finite == [true, true] && sums.otherSums[0].isNaN && sums.otherSums[1] == -3)
        #expect(plain.rowSums(selected: [true, false, true, true, true], alongside: bad).otherSums == [-4, -3])
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

    /// Every binary16 and bfloat16 bit pattern read by `value(at:)` (the kernel's decoders), against
    /// Swift's Float16 and bfloat16's definition: sign, 8-bit exponent biased by 127, 7-bit fraction.
    @Test func everyBitPatternDecodesExactly() throws {
        let bits = Array(0 ... UInt16.max)
        let halves = try #require(TokenValues(.float16(bits), rows: 1, width: bits.count))
        let bfloats = try #require(TokenValues(.bfloat16(bits), rows: 1, width: bits.count))
        let wrongHalves = bits.filter { !same(halves.value(at: Int($0)), Double(Float16(bitPattern: $0))) }
        let wrongBFloats = bits.filter { !same(bfloats.value(at: Int($0)), bfloat16(definedBy: $0)) }
        #expect(wrongHalves.first == nil && wrongBFloats.first == nil)
    }

    /// Every bit pattern through the kernel's eight-lane loop (the scalar tail alone would miss the
    /// vectorised decoder): rows of eight, one value selected per row, in each lane in turn.
    @Test(arguments: ["f16", "bf16"])
    func everyBitPatternSumsAsItDecodes(_ type: String) throws {
        let bits = Array(0 ... UInt16.max)
        let storage: TokenValues.Storage = type == "f16" ? .float16(bits) : .bfloat16(bits)
        let values = try #require(TokenValues(storage, rows: bits.count / 8, width: 8))
        var wrong: [Int] = []
        for lane in 0 ..< 8 {
            let (sums, counts, finite) = values.rowSums(selected: bits.indices.map { $0 % 8 == lane })
            for row in 0 ..< values.rowCount {
                let value = values.value(at: 8 * row + lane)
                let rowIsFinite = (8 * row ..< 8 * row + 8).allSatisfy { values.value(at: $0).isFinite }
                if counts[row] != 1 || finite[row] != rowIsFinite || (rowIsFinite && sums[row] != value) {
                    wrong.append(8 * row + lane)
                }
            }
        }
        #expect(wrong.first == nil)
    }

    @Test func gradientFillsMatchAPlainLoop() {
        var generator = SplitMix64(state: 15)
        let (rows, selected) = randomRows(using: &generator)
        let direct = selected.map { _ in Bool.random(using: &generator) }
        let rowGradients = (0 ..< rows.rowCount).map { _ in Double.random(in: -1 ... 1, using: &generator) }
        for (selection, directTokens) in [(nil, nil), (selected, nil), (selected, direct), (nil, direct)]
            as [([Bool]?, [Bool]?)]
        {
            let filled = filledGradients(
                rowOffsets: rows.rowOffsets, selected: selection, direct: directTokens, rowGradients: rowGradients,
                coefficient: 0.25
            ).values
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
        for (rowGradients, coefficient, direct) in [
            ([Double.infinity], 0.0, nil), ([1.0], .nan, nil), ([1e308], 1e308, nil),
            ([1.0], .infinity, [false, true]),
        ] as [([Double], Double, [Bool]?)] {
            #expect(
                !filledGradients(
                    rowOffsets: [0, 2], selected: nil, direct: direct, rowGradients: rowGradients,
                    coefficient: coefficient
                ).finite)
        }
        #expect(
            filledGradients(rowOffsets: [0, 2], selected: nil, direct: nil, rowGradients: [1], coefficient: 2).finite)
    }

    @Test func maskBytesAreZeroOrOne() throws {
        #expect(
            try [UInt8]([0, 1, 1, 0]).withUnsafeBytes { bytes throws(NonBinaryByte) in try flags(fromBytes: bytes) }
                == [false, true, true, false])
        for position in [0, 63, 64, 100] {
            var bytes = [UInt8](repeating: 1, count: 101)
            bytes[position] = 2
            #expect(throws: NonBinaryByte(index: position)) {
                try bytes.withUnsafeBytes { bytes throws(NonBinaryByte) in try flags(fromBytes: bytes) }
            }
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

/// The same double: both NaN, or the same bits (so -0 is not 0).
private func same(_ a: Double, _ b: Double) -> Bool { a.isNaN ? b.isNaN : a.bitPattern == b.bitPattern }

/// bfloat16 `bits` from the format's definition, not from a float32's bits.
private func bfloat16(definedBy bits: UInt16) -> Double {
    let sign: Double = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int(bits >> 7 & 0xff), fraction = Double(bits & 0x7f)
    switch exponent {
    case 0: return sign * fraction * 0x1p-133
    case 0xff: return fraction == 0 ? sign * .infinity : .nan
    default: return sign * (1 + fraction / 128) * Double(sign: .plus, exponent: exponent - 127, significand: 1)
    }
}
