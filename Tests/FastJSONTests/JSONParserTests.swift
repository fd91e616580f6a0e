import FastJSON
import SeededRandom
import Testing

/// Parses `text` with a fresh parser and applies `body` to the root.
func parse<T>(_ text: String, _ body: (JSONValue) throws -> T) throws -> T {
    let parser = try #require(JSONParser(maximumSize: 1 << 20))
    let bytes = Array(text.utf8)
    return try bytes.withUnsafeBytes { try parser.parse($0, spare: 0, body) }
}

/// The syntax error `text` raises, or nil.
func syntaxError(_ text: String) -> JSONSyntaxError? {
    do {
        try parse(text) { _ in }
        return nil
    } catch {
        return error as? JSONSyntaxError
    }
}

@Suite struct JSONParserTests {
    @Test func countsCommasAndOpeningsAcrossBlocks() {
        // Strings count too.
        let text = Array(String(repeating: #"[1,{"a":[2]}],"#, count: 1000).utf8) + Array(#""[:,""#.utf8)
        let structure = text.withUnsafeBytes { JSONStructure(counting: $0) }
        #expect(structure == JSONStructure(commas: 2 * 1000 + 1, openings: 4 * 1000 + 2))
        #expect([UInt8]().withUnsafeBytes { JSONStructure(counting: $0) } == JSONStructure(commas: 0, openings: 0))
    }

    @Test(arguments: [1, 31, 32, 33, 255 * 32 - 1, 255 * 32, 255 * 32 + 1, 20_000, 100_003])
    func countsAsAByteLoopDoes(length: Int) {
        // Text of nothing but structure fills every byte counter of a 255-vector block.
        var random = UInt64(length)
        let texts: [[UInt8]] = [
            Array(repeating: UInt8(ascii: ","), count: length),
            (0 ..< length).map { Array("[{:".utf8)[$0 % 3] },
            (0 ..< length).map { _ in
                random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return UInt8(truncatingIfNeeded: random >> 56)
            },
        ]
        for text in texts {
            let commas = text.count { $0 == UInt8(ascii: ",") }
            let openings = text.count { $0 | 0x20 == UInt8(ascii: "{") || $0 == UInt8(ascii: ":") }
            #expect(
                text.withUnsafeBytes { JSONStructure(counting: $0) }
                    == JSONStructure(commas: commas, openings: openings))
        }
    }

    @Test func walksEveryType() throws {
        let text = #"{"a": [1, -2, 3.5, 18446744073709551615], "b": {"c": "x\"y", "d": true, "e": null}, "a": 0}"#
        try parse(text) { root in
            #expect(root.kind == .object)
            let fields = root.fields
            #expect(fields.map(\.key) == ["a", "b", "a"], "duplicates kept in order")
            let numbers = fields[0].value.elements
            #expect(numbers.map(\.kind) == [.integer, .integer, .double, .unsignedInteger])
            #expect(numbers[1].int64 == -2 && numbers[2].double == 3.5 && numbers[3].int64 == nil)
            let inner = fields[1].value.fields
            #expect(inner[0].value.string == "x\"y" && inner[1].value.bool == true && inner[2].value.kind == .null)
        }
    }

    @Test func appendsNumbersInBulk() throws {
        try parse("[[0.1, 2, -3e-5], [1, true]]") { root in
            let rows = root.elements
            var values: [Double] = [9]
            #expect(rows[0].appendNumbers(to: &values) == nil)
            #expect(values == [9, 0.1, 2, -3e-5])
            #expect(rows[1].appendNumbers(to: &values) == 1, "index of the first non-number")
            #expect(values == [9, 0.1, 2, -3e-5], "left as it was")
        }
    }

    @Test func appendsFlagsInBulk() throws {
        try parse("[[true, 0, 1, false], [1, 2], [0, 1.0], [-1], [true, \"1\"]]") { root in
            let rows = root.elements
            var flags: [Bool] = [true]
            #expect(rows[0].appendFlags(to: &flags) == nil, "booleans and the integers 0 and 1, mixed")
            #expect(flags == [true, true, false, true, false])
            #expect(rows[1].appendFlags(to: &flags) == 1, "an integer other than 0 or 1")
            #expect(rows[2].appendFlags(to: &flags) == 1, "a number written with a fraction")
            #expect(rows[3].appendFlags(to: &flags) == 0)
            #expect(rows[4].appendFlags(to: &flags) == 1, "a string")
            #expect(flags == [true, true, false, true, false], "left as it was")
        }
    }

    @Test func seventeenDigitNumbersRoundTripExactly() throws {
        let values: [Double] = [-0.12345678901234566, 1e-300, 5e-324, -1.7976931348623157e308, 0.1]
        try parse("[" + values.map(\.description).joined(separator: ",") + "]") { root in
            var parsed: [Double] = []
            #expect(root.appendNumbers(to: &parsed) == nil)
            #expect(parsed == values)
        }
    }

    @Test(arguments: [
        ("", 0, "empty document"),
        ("{\"a\": 1,}", 8, "expected a string key"),
        ("[1, 2", 5, "unexpected end of document"),
        ("[1 2]", 3, "expected ',' or ']'"),
        ("{\"a\" 1}", 5, "expected ':' after an object key"),
        ("[NaN]", 1, "unexpected character 'N'"),
        ("[1e400]", 1, "number outside the double range"),
        ("[123456789012345678901234567890]", 1, "integer outside the 64-bit range"),
        ("[01]", 2, "expected ',' or ']'"),
        ("[\"abc]", 1, "unterminated string"),
        ("[\"a\\x\"]", 4, "invalid escape sequence"),
        ("[tru]", 1, "invalid literal"),
        ("{} x", 3, "unexpected content after the JSON value"),
        ("[\"\u{01}\"]", 2, "unescaped control character in a string"),
    ])
    func syntaxErrorsNameTheirByte(_ text: String, _ offset: Int, _ reason: String) {
        #expect(syntaxError(text) == JSONSyntaxError(offset: offset, reason: reason))
    }

    @Test func invalidUTF8IsLocated() throws {
        let parser = try #require(JSONParser(maximumSize: 1024))
        let bytes: [UInt8] = Array("[\"ab".utf8) + [0xC3, 0x28] + Array("\"]".utf8)
        #expect(throws: JSONSyntaxError(offset: 4, reason: "invalid UTF-8")) {
            try bytes.withUnsafeBytes { try parser.parse($0, spare: 0) { _ in } }
        }
    }

    @Test func deepNestingIsRefused() {
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(syntaxError(deep) == JSONSyntaxError(offset: 1024, reason: "nesting deeper than 1024 levels"))
    }

    @Test func aPoolReusesParsers() throws {
        let pool = JSONParserPool(maximumSize: 1024, keep: 1)
        let sum = try pool.withParser { parser in
            try Array("[1,2]".utf8).withUnsafeBytes { bytes in
                try parser.parse(bytes, spare: 0) { root in root.elements.compactMap(\.double).reduce(0, +) }
            }
        }
        #expect(sum == 3)
    }
}

@Suite struct JSONWriterTests {
    @Test func writesNestedValuesWithCommas() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("a")
        writer.value([0.1, 1, -2.5e-7])
        writer.key("b\"\n")
        writer.beginArray()
        writer.value(true)
        writer.null()
        writer.value("x\u{01}\t\r\\\u{1F}é")
        writer.value(3)
        writer.endArray()
        writer.key("c")
        writer.value([Double]())
        writer.key("d")
        writer.value(Double.nan)
        writer.key("e")
        writer.value(["z": "1", "a": "2"])
        writer.endObject()
        #expect(
            String(decoding: writer.bytes, as: UTF8.self)
                == #"{"a":[0.1,1.0,-2.5e-07],"b\"\n":[true,null,"x\u0001\t\r\\\u001fé",3],"c":[],"d":null,"e":{"z":"1","a":"2"}}"#
        )
    }

    @Test func everyWrittenNumberReadsBackExactly() {
        var generator = SplitMix64(state: 20_261_125)
        var values: [Double] = [
            0, -0.0, 1, -1, 0.1, 1e21, 1e-7, 5e-324, -Double.greatestFiniteMagnitude, 123456789012345680,
        ]
        while values.count < 20000 {
            let candidate = Double(bitPattern: generator.next())
            if candidate.isFinite { values.append(candidate) }
        }
        values += (0 ..< 5000).map { _ in Double(Float.random(in: -20 ..< 0, using: &generator)) }
        var writer = JSONWriter()
        writer.value(values)
        let text = String(decoding: writer.bytes, as: UTF8.self)
        let parts = text.dropFirst().dropLast().split(separator: ",")
        #expect(parts.count == values.count)
        for (part, value) in zip(parts, values) {
            #expect(Double(String(part))?.bitPattern == value.bitPattern, "\(part) vs \(value)")
            #expect(part.count <= value.description.count + 2, "shortest form: \(part) vs \(value.description)")
        }
    }
}
