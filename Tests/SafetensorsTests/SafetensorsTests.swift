import FastJSON
import Safetensors
import Testing

/// Parses `bytes` and hands the file and the bytes to `body`.
func withFile<T>(
    _ bytes: [UInt8], maximumHeaderSize: Int = 1 << 20, _ body: (SafetensorsFile, UnsafeRawBufferPointer) throws -> T
) throws -> T {
    let parser = try #require(JSONParser(maximumSize: 1 << 20))
    return try bytes.withUnsafeBytes { raw in
        try body(try SafetensorsFile(parsing: raw, maximumHeaderSize: maximumHeaderSize, parser: parser), raw)
    }
}

/// The file's tensors by name (the parser refuses a name given twice).
func tensorsByName(_ file: SafetensorsFile) -> [String: TensorInfo] {
    Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0) })
}

/// A file with `header` (JSON text) and `data`.
func file(header: String, data: [UInt8] = []) -> [UInt8] {
    var bytes: [UInt8] = []
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
    return bytes + Array(header.utf8) + data
}

func bytes(hex: String) -> [UInt8] {
    var result: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        result.append(UInt8(hex[index ..< next], radix: 16) ?? 0)
        index = next
    }
    return result
}

@Suite struct SafetensorsReadingTests {
    /// Written by the reference library (`safetensors.numpy.save`, safetensors 0.x) from
    /// a.f32 = [[1.5, -2.25], [3, 0.1]] F32, b.f16 = [0.5, -65504, 6.1035156e-05] F16,
    /// c.i64 = [[-100, 7]] I64, d.bool = [True, False, True], metadata config = {"beta": 2.5}.
    static let reference = bytes(
        hex: """
            20010000000000007b225f5f6d657461646174615f5f223a7b22636f6e666967223a227b5c22626574615c223a20322e357d227d2c22632e693634223a7b22647479\
            7065223a22493634222c227368617065223a5b312c325d2c22646174615f6f666673657473223a5b302c31365d7d2c22612e663332223a7b226474797065223a2246\
            3332222c227368617065223a5b322c325d2c22646174615f6f666673657473223a5b31362c33325d7d2c22622e663136223a7b226474797065223a22463136222c22\
            7368617065223a5b335d2c22646174615f6f666673657473223a5b33322c33385d7d2c22642e626f6f6c223a7b226474797065223a22424f4f4c222c227368617065\
            223a5b335d2c22646174615f6f666673657473223a5b33382c34315d7d7d20209cffffffffffffff07000000000000000000c03f000010c000004040cdcccc3d0038\
            fffb0004010001
            """)

    @Test func readsTheReferenceWritersFile() throws {
        try withFile(Self.reference) { file, raw in
            #expect(file.metadata == ["config": #"{"beta": 2.5}"#])
            #expect(file.tensors.map(\.name) == ["c.i64", "a.f32", "b.f16", "d.bool"])
            let tensors = tensorsByName(file)
            #expect(tensors["a.f32"]?.shape == [2, 2])
            #expect(tensors["a.f32"]?.doubles(in: raw) == [1.5, -2.25, 3.0, Double(Float(0.1))])
            #expect(tensors["b.f16"]?.doubles(in: raw) == [0.5, -65504, 0x1p-14])
            #expect(tensors["c.i64"]?.integers(in: raw) == [-100, 7])
            #expect(tensors["d.bool"]?.integers(in: raw) == [1, 0, 1])
            #expect(tensors["a.f32"]?.integers(in: raw) == nil, "floats are not read as integers")
            #expect(tensors["c.i64"]?.doubles(in: raw) == nil, "integers are not read as floats")
        }
    }

    @Test func bfloat16IsTheUpperHalfOfAFloat32() throws {
        // 0x3FC0 = 1.5, 0xC010 = -2.25, 0x7F80 = +inf.
        let bytes = file(
            header: #"{"x":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}}"#,
            data: [0xC0, 0x3F, 0x10, 0xC0, 0x80, 0x7F])
        try withFile(bytes) { file, raw in
            #expect(tensorsByName(file)["x"]?.doubles(in: raw) == [1.5, -2.25, .infinity])
        }
    }

    @Test func writerOutputReadsBackInBothPrecisions() throws {
        let values = [0.1, -1e-30, 3.25, 12345.678]
        for precision in [SafetensorsWriter.Precision.float32, .float64] {
            var writer = SafetensorsWriter(precision: precision)
            writer.add("rows", shape: [2, 2], values: values)
            writer.add("empty", shape: [0], values: [])
            writer.addMetadata("loss", "0.5")
            let bytes = writer.bytes()
            let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8
            #expect((8 + headerLength) % 8 == 0, "data starts 8-byte aligned")
            try withFile(bytes) { file, raw in
                #expect(file.metadata == ["loss": "0.5"])
                let tensors = tensorsByName(file)
                #expect(tensors["rows"]?.shape == [2, 2])
                let expected = precision == .float32 ? values.map { Double(Float($0)) } : values
                #expect(tensors["rows"]?.doubles(in: raw) == expected)
                #expect(tensors["empty"]?.doubles(in: raw) == [])
            }
        }
    }

    /// float32 rounds to nearest: the largest double that stays finite, the first that does not
    /// (a tie, which goes to the even 2¹²⁸), and values on either side of them, each alone, among
    /// many (the vector loop) and last (its remainder), both signs.
    @Test(arguments: [
        (Double(Float.greatestFiniteMagnitude), false), (0x1.ffffffp127.nextDown, false), (0x1.ffffffp127, true),
        (1e39, true), (.greatestFiniteMagnitude, true), (.infinity, true), (1e-50, false),
    ])
    func aFloat32AnswerKnowsWhatRoundedToInfinity(_ value: Double, _ rounds: Bool) throws {
        for sign in [1.0, -1.0] {
            for position in [0, 37, 40] {
                var values = Array(repeating: 0.5, count: 41)
                values[position] = sign * value
                var writer = SafetensorsWriter(precision: .float32)
                writer.add("values", shape: [values.count], values: values)
                #expect(writer.roundedToInfinity == rounds, "\(sign * value) at \(position)")
                try withFile(writer.bytes()) { file, raw in
                    #expect(tensorsByName(file)["values"]?.doubles(in: raw) == values.map { Double(Float($0)) })
                }
            }
        }
    }
}

@Suite struct MalformedSafetensorsTests {
    static func error(_ bytes: [UInt8], maximumHeaderSize: Int = 1 << 20) -> SafetensorsError? {
        do {
            try withFile(bytes, maximumHeaderSize: maximumHeaderSize) { _, _ in }
            return nil
        } catch let error as SafetensorsError {
            return error
        } catch {
            return SafetensorsError("unexpected \(error)")
        }
    }

    static let one = #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#

    @Test func wellFormedBaseline() {
        #expect(Self.error(file(header: Self.one, data: [0, 0, 128, 63])) == nil)
    }

    @Test(
        arguments: [
            ([UInt8](), "shorter than the 8-byte header length"),
            ([1, 0, 0, 0], "shorter than the 8-byte header length"),
            ([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "exceeds the limit"),
            ([100, 0, 0, 0, 0, 0, 0, 0, 123, 125], "runs past the end"),
        ] as [([UInt8], String)])
    func headerLength(_ bytes: [UInt8], _ reason: String) {
        #expect(Self.error(bytes)?.reason.contains(reason) == true)
    }

    @Test func headerOverTheLimitIsRefusedBeforeReading() {
        #expect(
            Self.error(file(header: Self.one, data: [0, 0, 128, 63]), maximumHeaderSize: 16)?.reason.contains(
                "exceeds the limit") == true)
    }

    @Test(
        arguments: [
            (#"[1, 2]"#, [], "does not start with '{'"),
            (#"{"x": "#, [], "not valid JSON"),
            (
                #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}, "x":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#,
                [0, 0, 0, 0], "named twice"
            ),
            (#"{"x":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}"#, [0, 0, 0, 0], "unknown dtype 'Q4'"),
            (#"{"x":{"shape":[1],"data_offsets":[0,4]}}"#, [0, 0, 0, 0], "missing or non-string 'dtype'"),
            (#"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, [0, 0, 0, 0], "missing 'shape'"),
            (#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, [0, 0, 0, 0], "begin <= end"),
            (
                #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}"#, [0, 0, 0, 0],
                "unknown field 'extra'"
            ),
            (
                #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, [0, 0, 0, 0],
                "needs 8 bytes but data_offsets span 4"
            ),
            (
                #"{"x":{"dtype":"F64","shape":[4611686018427387904, 4],"data_offsets":[0,8]}}"#,
                [0, 0, 0, 0, 0, 0, 0, 0], "overflows"
            ),
            (#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, [0, 0], "past the 2-byte data section"),
            (#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, [0, 0, 0, 0, 0, 0, 0, 0], "gap"),
            (
                #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}"#,
                [0, 0, 0, 0], "overlap"
            ),
            (
                #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, [0, 0, 0, 0, 9],
                "cover 4 of the 5 data bytes"
            ),
            (#"{"__metadata__":{"a":1}}"#, [], "not a string"),
            (
                #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,9223372036854775807]}}"#, [0, 0, 0, 0],
                "needs 4 bytes"
            ),
        ] as [(String, [UInt8], String)])
    func header(_ header: String, _ data: [UInt8], _ reason: String) {
        let error = Self.error(file(header: header, data: data))
        #expect(error?.reason.contains(reason) == true, "\(String(describing: error))")
    }
}
