import FastJSON
import PreferenceLoss
import PreferenceLossCodec
import Safetensors
import Testing

/// A request's outline, read from its document before the inputs are decoded, is the outline of
/// what decoding gives.
@Suite struct RequestOutlineTests {
    /// The outline `inspect` sees, and the decoded request's.
    private func outlines(
        _ body: [UInt8], format: RequestFormat
    ) throws -> (early: RequestOutline, decoded: RequestOutline) {
        let parser = try #require(JSONParser(maximumSize: 1 << 20))
        let padded = body + repeatElement(0, count: JSONParser.requiredPadding)
        var early: RequestOutline?
        let request = try padded.withUnsafeBytes { buffer in
            try LossRequest(
                body: UnsafeRawBufferPointer(rebasing: buffer[..<body.count]), spare: JSONParser.requiredPadding,
                format: format, parser: parser
            ) { early = $0 }
        }
        return (try #require(early), RequestOutline(request))
    }

    @Test func aJSONOutlineCountsPairsLossTypesAndTokenGradients() throws {
        let json = #"""
            {"config": {"objective": "dpo", "loss_type": ["sigmoid", "hinge", "ipo"]}, "return_token_grads": true,
             "chosen": {"per_token_logps": [[-1, -2], [-3]], "mask": [[1, 0], [1]]},
             "rejected": {"per_token_logps": [[-1, -2, -3], [-4, -5]]},
             "reference_chosen": {"logps": [-1, -2]}, "reference_rejected": {"logps": [-3, -4]}}
            """#
        let (early, decoded) = try outlines(Array(json.utf8), format: .json)
        #expect(early.pairs == 2 && early.pairArrays == LossResult.perPairArrays + 3 && early.tokenGradients == 8)
        #expect(early.inputBytes == nil)
        #expect(early.answerNumbers == decoded.answerNumbers)
        // Values, masks and offsets: 8 + 3 + 24 + 24 (chosen), 40 + 24 (rejected), 16 + 16 (references).
        #expect(decoded.inputBytes == 8 * 3 + 3 + 24 + 24 + 8 * 5 + 24 + 16 + 16)
    }

    @Test func aSafetensorsOutlineTellsWhatDecodingHolds() throws {
        let file = safetensorsFile(
            [
                ("chosen.per_token_logps", "F16", [2, 3], Array(repeating: 0xBC, count: 12)),
                ("chosen.mask", "BOOL", [2, 3], [1, 1, 0, 1, 0, 0]),
                ("rejected.per_token_logps", "F32", [2, 3], Array(repeating: 0, count: 24)),
                ("rejected.labels", "I64", [2, 3], Array(repeating: 0, count: 48)),
            ], metadata: ["return_token_grads": "true", "config": #"{"objective": "simpo"}"#])
        let (early, decoded) = try outlines(file, format: .safetensors)
        #expect(early.pairs == 2 && early.tokenGradients == 12)
        #expect(early == decoded)
    }

    @Test func aZeroWidthTensorOutlinesNoPairsWhateverItsBatch() throws {
        let file = safetensorsFile([("chosen.per_token_logps", "F32", [1 << 40, 0], [])], metadata: [:])
        let parser = try #require(JSONParser(maximumSize: 1 << 20))
        let outline = try file.withUnsafeBytes { bytes in
            RequestOutline(
                safetensors: try SafetensorsFile(
                    parsing: bytes, maximumHeaderSize: LossRequest.maximumSafetensorsHeader, parser: parser),
                parser: parser)
        }
        #expect(outline.pairs == 0 && outline.inputBytes == 8, "one row offset")
    }
}

/// A safetensors file of raw tensors.
private func safetensorsFile(
    _ tensors: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])], metadata: [String: String]
) -> [UInt8] {
    var entries =
        metadata.isEmpty
        ? []
        : [
            "\"__metadata__\":{"
                + metadata.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\(quoted($0.value))" }
                .joined(separator: ",") + "}"
        ]
    var data: [UInt8] = []
    for tensor in tensors {
        entries.append(
            "\"\(tensor.name)\":{\"dtype\":\"\(tensor.dtype)\",\"shape\":\(tensor.shape),"
                + "\"data_offsets\":[\(data.count),\(data.count + tensor.bytes.count)]}"
        )
        data += tensor.bytes
    }
    let header = Array("{\(entries.joined(separator: ","))}".utf8)
    return withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header + data
}

private func quoted(_ text: String) -> String {
    var writer = JSONWriter()
    writer.value(text)
    return String(decoding: writer.bytes, as: UTF8.self)
}
