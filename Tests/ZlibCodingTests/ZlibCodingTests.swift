import Testing
import ZlibCoding

@Suite struct ZlibCodingTests {
    static let text = Array(String(repeating: "simpo ", count: 10_000).utf8)

    @Test func roundTripsAndPadsWithZeros() throws {
        let compressed = try #require(gzipped(Self.text))
        try compressed.withUnsafeBytes { raw in
            try withInflated(raw, limit: 1 << 20, padding: 8, mayHold: { _ in true }) { inflated in
                #expect(Array(inflated) == Self.text)
                #expect(
                    Array(UnsafeRawBufferPointer(start: inflated.baseAddress.map { $0 + inflated.count }, count: 8))
                        == Array(repeating: 0, count: 8))
            }
        }
    }

    @Test func asksBeforeEveryAllocationAndStopsWhenRefused() throws {
        let compressed = try #require(gzipped(Self.text))
        var asked: [Int] = []
        #expect(throws: InflateError.refused) {
            try compressed.withUnsafeBytes { raw in
                try withInflated(
                    raw, limit: 1 << 20, padding: 0,
                    mayHold: {
                        asked.append($0); return $0 < 20_000
                    }
                ) { _ in }
            }
        }
        #expect(asked.count >= 2 && asked == asked.sorted(), "growing capacities: \(asked)")
    }

    @Test func boundsAndErrors() throws {
        let compressed = try #require(gzipped(Self.text))
        try compressed.withUnsafeBytes { raw in
            #expect(throws: InflateError.tooLarge) {
                try withInflated(raw, limit: Self.text.count - 1, padding: 0, mayHold: { _ in true }) { _ in }
            }
            #expect(throws: InflateError.truncated) {
                try withInflated(
                    UnsafeRawBufferPointer(rebasing: raw.dropLast(10)), limit: 1 << 20, padding: 0,
                    mayHold: { _ in true }
                ) { _ in }
            }
        }
        try Self.text.withUnsafeBytes { raw in
            #expect(throws: InflateError.corrupt) {
                try withInflated(raw, limit: 1 << 20, padding: 0, mayHold: { _ in true }) { _ in }
            }
        }
    }
}
