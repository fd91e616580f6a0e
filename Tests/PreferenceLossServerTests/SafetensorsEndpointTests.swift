import FastJSON
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PreferenceLossCodec
import Safetensors
import Testing
import ZlibCoding

@testable import PreferenceLossServer

/// A safetensors file from raw tensors, written by hand so tests can use any dtype
/// and break any rule.
func safetensors(
    _ tensors: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])], metadata: [String: String] = [:]
) -> [UInt8] {
    var entries: [String] = []
    if !metadata.isEmpty {
        let pairs = metadata.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\(jsonString($0.value))" }
        entries.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
    }
    var offset = 0
    var data: [UInt8] = []
    for tensor in tensors {
        let shape = tensor.shape.map(String.init).joined(separator: ",")
        entries.append(
            "\"\(tensor.name)\":{\"dtype\":\"\(tensor.dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + tensor.bytes.count)]}"
        )
        offset += tensor.bytes.count
        data += tensor.bytes
    }
    let header = Array("{\(entries.joined(separator: ","))}".utf8)
    var file: [UInt8] = []
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { file.append(contentsOf: $0) }
    return file + header + data
}

private func jsonString(_ text: String) -> String {
    var writer = JSONWriter()
    writer.value(text)
    return String(decoding: writer.bytes, as: UTF8.self)
}

func f32(_ values: [Float]) -> [UInt8] {
    values.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
}
func f64(_ values: [Double]) -> [UInt8] {
    values.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
}
func i64(_ values: [Int64]) -> [UInt8] {
    values.flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } }
}

func post(_ client: some TestClientProtocol, _ body: [UInt8], headers: HTTPFields) async throws -> TestResponse {
    try await client.execute(uri: "/v1/loss", method: .post, headers: headers, body: ByteBuffer(bytes: body))
}

let safetensorsType: HTTPFields = [.contentType: "application/vnd.safetensors"]

@Suite struct SafetensorsEndpointTests {
    /// Two pairs, padded to 3 tokens with a mask; every value exact in F32.
    static let chosen: [Float] = [-0.5, -1.25, -2.0, -1.5, -0.25, 0]
    static let rejected: [Float] = [-2.5, -1.0, 0, -0.5, -0.75, -1.0]
    static let json = """
        {"config": {"loss_type": "sigmoid", "sft_weight": 0.1, "beta": 2.5},
         "chosen": {"per_token_logps": [[-0.5, -1.25, -2.0], [-1.5, -0.25]], "mask": [[1, 1, 1], [1, 1]]},
         "rejected": {"per_token_logps": [[-2.5, -1.0], [-0.5, -0.75, -1.0]], "labels": [[5, 6], [7, -100, 9]]},
         "return_token_grads": true}
        """
    static let file = safetensors(
        [
            ("chosen.per_token_logps", "F32", [2, 3], f32(chosen)),
            ("chosen.mask", "BOOL", [2, 3], [1, 1, 1, 1, 1, 0]),
            ("rejected.per_token_logps", "F32", [2, 3], f32(rejected)),
            ("rejected.labels", "I64", [2, 3], i64([5, 6, -100, 7, -100, 9])),
        ],
        metadata: [
            "config": #"{"loss_type": "sigmoid", "sft_weight": 0.1, "beta": 2.5}"#, "return_token_grads": "true",
            "format": "pt",
        ])

    @Test func safetensorsRequestGivesTheJSONRequestsNumbers() async throws {
        try await withLiveServer { client async throws in
            let fromJSON = try jsonObject(try await postLoss(client, Self.json))
            let fromSafetensors = try await post(client, Self.file, headers: safetensorsType)
            #expect(fromSafetensors.status == .ok)
            let answer = try jsonObject(fromSafetensors)
            for key in [
                "loss", "preference_loss", "sft_loss", "losses", "logits", "chosen_logps", "rejected_logps",
                "chosen_rewards",
            ] {
                #expect(String(describing: answer[key]) == String(describing: fromJSON[key]), "\(key)")
            }
            #expect(answer["metrics"] as? [String: Double] == fromJSON["metrics"] as? [String: Double])
            let grads = try #require(answer["grads"] as? [String: Any])
            let jsonGrads = try #require(fromJSON["grads"] as? [String: Any])
            #expect(String(describing: grads["chosen_logps"]) == String(describing: jsonGrads["chosen_logps"]))
            // The padded request's rows are 3 long; the JSON's second chosen row has 2 entries plus a 0 pad.
            let padded = try #require(grads["chosen_per_token_logps"] as? [[Double]])
            let ragged = try #require(jsonGrads["chosen_per_token_logps"] as? [[Double]])
            #expect(padded[0] == ragged[0] && Array(padded[1].prefix(2)) == ragged[1] && padded[1][2] == 0)
        }
    }

    @Test(arguments: [SafetensorsWriter.Precision.float32, .float64])
    func safetensorsResponseCarriesTheJSONResponse(_ precision: SafetensorsWriter.Precision) async throws {
        try await withLiveServer { client async throws in
            let expected = try jsonObject(try await postLoss(client, Self.json))
            let accept =
                precision == .float64 ? "application/vnd.safetensors; dtype=F64" : "application/vnd.safetensors"
            var headers = safetensorsType
            headers[.accept] = accept
            let response = try await post(client, Self.file, headers: headers)
            #expect(response.status == .ok && response.headers[.contentType] == "application/vnd.safetensors")
            let parser = try #require(JSONParser(maximumSize: 1 << 20))
            let round: (Double) -> Double = { precision == .float32 ? Double(Float($0)) : $0 }
            try Array(buffer: response.body).withUnsafeBytes { raw in
                let file = try SafetensorsFile(parsing: raw, maximumHeaderSize: 1 << 20, parser: parser)
                #expect(file.tensors.allSatisfy { $0.dtype == (precision == .float32 ? .f32 : .f64) })
                let tensors = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0) })
                let losses = try #require(expected["losses"] as? [Double])
                #expect(tensors["losses"]?.shape == [2])
                #expect(tensors["losses"]?.doubles(in: raw) == losses.map(round))
                let grads = try #require(expected["grads"] as? [String: Any])
                let tokenGrads = try #require(grads["rejected_per_token_logps"] as? [[Double]])
                #expect(tensors["grads.rejected_per_token_logps"]?.shape == [2, 3])
                #expect(
                    tensors["grads.rejected_per_token_logps"]?.doubles(in: raw)
                        == [tokenGrads[0] + [0], tokenGrads[1]].flatMap { $0 }.map(round))
                #expect(
                    file.metadata["loss"].flatMap(Double.init) == expected["loss"] as? Double,
                    "scalars stay exact, as JSON")
                #expect(file.metadata["metrics"]?.contains("rewards/accuracies") == true)
                let warnings = try #require(expected["warnings"] as? [[String: Any]])
                #expect(warnings.count == 1 && file.metadata["warnings"]?.contains("low_reward_margin") == true)
            }
        }
    }

    @Test func malformedContainerIs400NamingTheTensor() async throws {
        // Well-formed, then the second tensor's offsets moved onto the first's bytes.
        let wellFormed = safetensors([
            ("chosen.logps", "F32", [1], f32([-1])), ("rejected.logps", "F32", [1], f32([-2])),
        ])
        let header = String(decoding: wellFormed.dropFirst(8).dropLast(8), as: UTF8.self).replacingOccurrences(
            of: "[4,8]", with: "[2,6]")
        let broken = Array(wellFormed.prefix(8)) + Array(header.utf8) + Array(wellFormed.suffix(8))
        try await withLiveServer { client async throws in
            let problem = try expectProblem(try await post(client, broken, headers: safetensorsType), .badRequest)
            #expect(problem["type"] as? String == "urn:prefloss:problem:malformed-safetensors")
            #expect(try pointers(try await post(client, broken, headers: safetensorsType)) == ["/rejected.logps"])
            try expectProblem(try await post(client, [1, 2, 3], headers: safetensorsType), .badRequest)
        }
    }

    @Test func contentProblemsAre422AtTheJSONRequestsPointers() async throws {
        let file = safetensors(
            [
                ("chosen.per_token_logps", "F32", [2, 3], f32(Self.chosen)),
                ("chosen.mask", "BOOL", [2, 2], [1, 1, 1, 1]),
                ("rejected.per_token_logps", "I64", [2, 3], i64([1, 2, 3, 4, 5, 6])),
                ("rejected.maks", "BOOL", [2, 3], [1, 1, 1, 1, 1, 1]),
                ("rejectd.logps", "F32", [1], f32([-1])),
            ],
            metadata: ["config": #"{"betta": 2}"#, "return_token_grads": "yes"])
        try await withLiveServer { client async throws in
            let response = try await post(client, file, headers: safetensorsType)
            let problem = try expectProblem(response, .unprocessableContent)
            #expect(
                try pointers(response) == [
                    "/config/betta", "/return_token_grads", "/rejected/maks", "/rejectd.logps", "/chosen/mask",
                    "/rejected/per_token_logps",
                ])
            #expect((problem["detail"] as? String)?.contains("did you mean 'beta'") == true)
            let errors = try #require(problem["errors"] as? [[String: String]])
            #expect(errors[3]["detail"]?.contains("did you mean 'rejected.logps'") == true)
        }
    }

    @Test func maskValuesOtherThanZeroAndOneAreNamedByPosition() async throws {
        let file = safetensors([
            ("chosen.per_token_logps", "F32", [2, 3], f32(Self.chosen)),
            ("chosen.mask", "U8", [2, 3], [1, 1, 1, 1, 2, 0]),
            ("rejected.logps", "F64", [2], f64([-1, -2])),
        ])
        try await withLiveServer { client async throws in
            #expect(try pointers(try await post(client, file, headers: safetensorsType)) == ["/chosen/mask/1/1"])
        }
    }

    /// KTO: three desirable completions, no undesirable one ([0, T] and [0]), per-token KL completions.
    static let ktoJSON = """
        {"config": {"objective": "kto", "beta": 0.5},
         "chosen": {"per_token_logps": [[-0.5, -1.25, -2.0], [-1.5, -0.25], [-1.0]]},
         "rejected": {"per_token_logps": []},
         "reference_chosen": {"logps": [-3.0, -2.5, -0.5]}, "reference_rejected": {"logps": []},
         "kl": {"per_token_logps": [[-1.0, -2.0], [-0.5, -0.5], [-2.0, -1.0]]},
         "reference_kl": {"logps": [-2.5, -1.5, -2.0]}, "return_token_grads": true}
        """
    static let ktoTensors: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])] = [
        ("chosen.per_token_logps", "F64", [3, 3], f64([-0.5, -1.25, -2.0, -1.5, -0.25, 0, -1.0, 0, 0])),
        ("chosen.mask", "BOOL", [3, 3], [1, 1, 1, 1, 1, 0, 1, 0, 0]),
        ("rejected.per_token_logps", "F64", [0, 3], []),
        ("reference_chosen.logps", "F64", [3], f64([-3.0, -2.5, -0.5])),
        ("reference_rejected.logps", "F64", [0], []),
    ]

    @Test func ktoTakesAnEmptySideAndTheKLPointInEitherFormat() async throws {
        let completions = safetensors(
            Self.ktoTensors + [
                ("kl.per_token_logps", "F64", [3, 2], f64([-1.0, -2.0, -0.5, -0.5, -2.0, -1.0])),
                ("reference_kl.logps", "F64", [3], f64([-2.5, -1.5, -2.0])),
            ],
            metadata: ["config": #"{"objective": "kto", "beta": 0.5}"#, "return_token_grads": "true"])
        // The KL completions' mean difference: (−3 + 2.5 − 1 + 1.5 − 3 + 2) / 3 = −1/3, clamped to 0.
        let value = safetensors(
            Self.ktoTensors, metadata: ["config": #"{"objective": "kto", "beta": 0.5}"#, "kl_value": "-0.25e0"])
        try await withLiveServer { client async throws in
            let fromJSON = try jsonObject(try await postLoss(client, Self.ktoJSON))
            let metrics = try #require(fromJSON["metrics"] as? [String: Double])
            // TRL's, then the batch's own (no ties, and no length ratio with one side).
            #expect(Set(metrics.keys) == ["kl", "rewards/chosen", "logps/chosen", "tokens/chosen"])
            #expect(metrics["kl"] == 0)
            for file in [completions, value] {
                let response = try await post(client, file, headers: safetensorsType)
                #expect(response.status == .ok)
                let answer = try jsonObject(response)
                for key in ["loss", "losses", "logits", "chosen_logps", "rejected_logps", "chosen_rewards"] {
                    #expect(String(describing: answer[key]) == String(describing: fromJSON[key]), "\(key)")
                }
                #expect(answer["metrics"] as? [String: Double] == metrics)
            }
            let grads = try #require(fromJSON["grads"] as? [String: Any])
            #expect(grads["rejected_per_token_logps"] as? [[Double]] == [])
            #expect((grads["chosen_per_token_logps"] as? [[Double]])?.map(\.count) == [3, 2, 1])
            let bad = safetensors(Self.ktoTensors, metadata: ["config": #"{"objective": "kto"}"#, "kl_value": "0.5x"])
            #expect(try pointers(try await post(client, bad, headers: safetensorsType)) == ["/kl_value"])
            let both = safetensors(
                Self.ktoTensors + [
                    ("kl.logps", "F64", [1], f64([-1])), ("reference_kl.logps", "F64", [1], f64([-1])),
                ], metadata: ["config": #"{"objective": "kto"}"#, "kl_value": "0"])
            #expect(try pointers(try await post(client, both, headers: safetensorsType)) == ["/kl_value"])
        }
    }

    @Test func zeroWidthRowsAreRefusedWhateverTheBatchSize() async throws {
        let file = safetensors([
            ("chosen.per_token_logps", "F32", [1 << 40, 0], []),
            ("rejected.per_token_logps", "F32", [1 << 40, 0], []),
        ])
        try await withLiveServer { client async throws in
            #expect(
                try pointers(try await post(client, file, headers: safetensorsType)) == [
                    "/chosen/per_token_logps/0", "/rejected/per_token_logps/0",
                ])
        }
    }
}

@Suite struct ContentCodingTests {
    static let request = #"{"chosen": {"logps": [-1.0]}, "rejected": {"logps": [-2.0]}}"#
    /// `zlib.compress(request)` from Python: HTTP's `deflate` coding is the zlib format.
    static let zlibRequest = bytes(
        hex: "789cab564acec82f4ecd53b252a856cac94f2f2806b2a2750df50c626b7514948a52b352934b5253d0a48d40d2b500419112a6")

    static func bytes(hex: String) -> [UInt8] {
        stride(from: 0, to: hex.count, by: 2).map { offset in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return UInt8(hex[start ..< hex.index(start, offsetBy: 2)], radix: 16) ?? 0
        }
    }

    static func headers(_ coding: String) -> HTTPFields {
        [.contentType: "application/json", .contentEncoding: coding]
    }

    @Test func gzipAndDeflateBodiesGiveThePlainBodysAnswer() async throws {
        let gzip = try #require(gzipped(Array(Self.request.utf8)))
        try await withLiveServer { client async throws in
            let plain = String(buffer: try await postLoss(client, Self.request).body)
            let fromGzip = try await post(client, gzip, headers: Self.headers("gzip"))
            #expect(fromGzip.status == .ok && String(buffer: fromGzip.body) == plain)
            let fromDeflate = try await post(client, Self.zlibRequest, headers: Self.headers("deflate"))
            #expect(fromDeflate.status == .ok && String(buffer: fromDeflate.body) == plain)
            // Two gzip members make one body (RFC 1952).
            let half = Self.request.utf8.count / 2
            let twoMembers =
                try #require(gzipped(Array(Self.request.utf8.prefix(half))))
                + (try #require(gzipped(Array(Self.request.utf8.dropFirst(half)))))
            #expect(String(buffer: try await post(client, twoMembers, headers: Self.headers("gzip")).body) == plain)
        }
    }

    @Test func brokenEncodingsAre400() async throws {
        let gzip = try #require(gzipped(Array(Self.request.utf8)))
        try await withLiveServer { client async throws in
            for body in [Array(gzip.dropLast(12)), [], Array(Self.request.utf8)] {
                let problem = try expectProblem(
                    try await post(client, body, headers: Self.headers("gzip")), .badRequest)
                #expect(problem["type"] as? String == "urn:prefloss:problem:malformed-encoding")
            }
            var corrupt = gzip
            corrupt[corrupt.count - 6] ^= 0xFF  // the CRC-32 trailer
            try expectProblem(try await post(client, corrupt, headers: Self.headers("gzip")), .badRequest)
            let unsupported = try await post(client, Array(Self.request.utf8), headers: Self.headers("br"))
            try expectProblem(unsupported, .unsupportedMediaType)
            #expect(unsupported.headers[.acceptEncoding] == "gzip, deflate")
        }
    }

    @Test func aSmallBodyCannotInflatePastTheLimit() async throws {
        var settings = ServerSettings()
        settings.maximumBodySize = 1 << 20
        let bomb = try #require(gzipped([UInt8](repeating: 0x20, count: 64 << 20)))
        #expect(bomb.count < settings.maximumBodySize, "the compressed body itself is within the limit")
        try await withLiveServer(settings) { client async throws in
            let problem = try expectProblem(
                try await post(client, bomb, headers: Self.headers("gzip")), .contentTooLarge)
            #expect((problem["detail"] as? String)?.contains("inflates to more than") == true)
        }
    }

    /// The adversarial review's gzip of one number of 60 MiB digits: 61 KB sent for 0.35 s of
    /// inflating and parsing, a thousand times the CPU per byte of a plain body.
    @Test func aBodyInflatingManyTimesItsSizeIs413UnlessTheRatioIsOff() async throws {
        let body =
            Array(#"{"chosen": {"logps": [1"#.utf8) + [UInt8](repeating: 0x30, count: 8 << 20)
            + Array(#"]}, "rejected": {"logps": [-1]}}"#.utf8)
        let gzip = try #require(gzipped(body))
        let settings = ServerSettings()
        let ratio = try #require(settings.maximumInflationRatio)
        #expect(ratio * gzip.count + ServerSettings.ratioAllowance < body.count)
        try await withLiveServer(settings) { client async throws in
            let problem = try expectProblem(
                try await post(client, gzip, headers: Self.headers("gzip")), .contentTooLarge)
            #expect((problem["detail"] as? String)?.contains("--max-inflation-ratio") == true)
        }
        var off = settings
        off.maximumInflationRatio = nil
        try await withLiveServer(off) { client async throws in
            // Inflated and parsed: its number is too large for JSON's parser.
            let problem = try expectProblem(try await post(client, gzip, headers: Self.headers("gzip")), .badRequest)
            #expect(problem["type"] as? String == ProblemType.malformedJSON.uri)
        }
    }

    @Test func largeResponsesAreGzippedOnlyWhenAskedAndAllowed() async throws {
        let large =
            #"{"chosen": {"logps": [\#(Array(repeating: "-1.5", count: 200).joined(separator: ","))]}, "rejected": {"logps": [\#(Array(repeating: "-2.5", count: 200).joined(separator: ","))]}}"#
        try await withLiveServer { client async throws in
            var headers: HTTPFields = [.contentType: "application/json", .acceptEncoding: "br;q=1, gzip;q=0.5"]
            let compressed = try await post(client, Array(large.utf8), headers: headers)
            #expect(compressed.headers[.contentEncoding] == "gzip")
            let plain = try await postLoss(client, large)
            #expect(plain.headers[.contentEncoding] == nil)
            try Array(buffer: compressed.body).withUnsafeBytes { raw in
                try withInflated(raw, limit: 1 << 20, padding: 0, mayHold: { _ in true }) { inflated in
                    #expect(Array(inflated) == Array(buffer: plain.body))
                }
            }
            let small = try await post(client, Array(Self.request.utf8), headers: headers)
            #expect(small.headers[.contentEncoding] == nil, "too small to gain")
            headers[.acceptEncoding] = "gzip;q=0"
            #expect(try await post(client, Array(large.utf8), headers: headers).headers[.contentEncoding] == nil)
        }
        var off = ServerSettings()
        off.compressResponses = false
        try await withLiveServer(off) { client async throws in
            let headers: HTTPFields = [.contentType: "application/json", .acceptEncoding: "gzip"]
            #expect(try await post(client, Array(large.utf8), headers: headers).headers[.contentEncoding] == nil)
        }
    }
}

@Suite struct ContentNegotiationTests {
    @Test(
        arguments: [
            (nil, ResponseFormat.json),
            ("*/*", .json),
            ("application/json", .json),
            ("application/vnd.safetensors", .safetensors(.float32)),
            ("application/vnd.safetensors;dtype=F64", .safetensors(.float64)),
            ("application/vnd.safetensors;dtype=f32", .safetensors(.float32)),
            ("application/vnd.safetensors;dtype=F16, application/json;q=0.1", .json),
            ("application/json;q=0.5, application/vnd.safetensors", .safetensors(.float32)),
            ("application/json, application/vnd.safetensors", .json),
            ("application/*;q=0.2, application/vnd.safetensors;q=0.1", .json),
            ("text/html, */*;q=0.1", .json),
            // The most specific range decides, whatever the broader ones say.
            ("*/*;q=0.1, application/vnd.safetensors", .safetensors(.float32)),
            ("application/*;q=0.1, application/vnd.safetensors;q=0.5", .safetensors(.float32)),
            ("*/*;q=0.1, application/json, application/vnd.safetensors;q=0.5", .json),
            // A range that matches nothing (another dtype, another charset) hides no other range,
            // and the order of the ranges does not matter.
            ("application/vnd.safetensors;dtype=F16, application/vnd.safetensors;q=0.5", .safetensors(.float32)),
            ("application/vnd.safetensors;dtype=F64;q=0, application/vnd.safetensors", .safetensors(.float32)),
            ("application/vnd.safetensors;dtype=BF16, application/vnd.safetensors;dtype=F64", .safetensors(.float64)),
            ("application/vnd.safetensors;q=0.1, application/vnd.safetensors;dtype=F64;q=0.9", .safetensors(.float64)),
            ("application/vnd.safetensors;dtype=F64;q=0.9, application/vnd.safetensors;q=0.1", .safetensors(.float64)),
            ("application/json;q=0, */*;q=0.5, application/vnd.safetensors;dtype=F16", .safetensors(.float32)),
            ("application/json;charset=utf-16;q=0, application/json", .json),
            ("application/json;charset=UTF-8", .json),
            ("application/json;x=y, application/vnd.safetensors;x=y;q=0.5", .json),
            ("application/vnd.safetensors;x=y;dtype=f64", .safetensors(.float64)),
            // Empty list elements are no elements (RFC 9110 §5.6.1): an empty list is no Accept.
            (",", .json),
            (" , ", .json),
        ] as [(String?, ResponseFormat)])
    func acceptPicksTheRepresentation(_ accept: String?, _ expected: ResponseFormat) throws {
        #expect(try ResponseFormat(accept: accept) == expected)
    }

    @Test func acceptingNeitherIs406() async throws {
        #expect(try ResponseFormat(accept: "text/html") == nil)
        #expect(try ResponseFormat(accept: "application/json;q=0") == nil)
        #expect(try ResponseFormat(accept: "application/vnd.safetensors;dtype=BF16") == nil, "a dtype not written")
        #expect(try ResponseFormat(accept: "application/json;charset=utf-16") == nil, "a charset not written")
        #expect(try ResponseFormat(accept: "application/json;q=0, application/vnd.safetensors;q=0") == nil)
        try await withLiveServer { client async throws in
            let response = try await client.execute(
                uri: "/v1/loss", method: .post, headers: [.contentType: "application/json", .accept: "text/csv"],
                body: ByteBuffer(string: ContentCodingTests.request))
            try expectProblem(response, .notAcceptable)
        }
    }

    @Test func acceptEncoding() throws {
        #expect(try acceptsGzip("gzip"))
        #expect(try acceptsGzip("br, *;q=0.1"))
        #expect(try !acceptsGzip("gzip;q=0"))
        #expect(try !acceptsGzip("br"))
        #expect(try !acceptsGzip(nil))
    }

    /// Each header that breaks its RFC 9110 grammar is a 400 naming it; the server stays up.
    @Test(arguments: [
        ("Accept", "application/json;="), ("Accept", "a; ;q=1"), ("Accept", "application/json;q=2"),
        ("Accept", "application/json;q=0.1234"), ("Accept", "*/json"), ("Accept", "application/json;dtype=\"F64"),
        ("Accept-Encoding", "gzip;q=x"), ("Accept-Encoding", "gzip;;q"), ("Accept-Encoding", "gzip gzip"),
        ("Content-Type", "application/json; charset"), ("Content-Type", "/json"),
        ("Content-Type", "application/json, text/plain"), ("Content-Encoding", "gzip;q=1"),
        ("Content-Encoding", "g zip"),
    ])
    func malformedHeadersAre400(_ name: String, _ value: String) async throws {
        try await withLiveServer { client async throws in
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[try #require(HTTPField.Name(name))] = value
            let response = try await client.execute(
                uri: "/v1/loss", method: .post, headers: headers, body: ByteBuffer(string: ContentCodingTests.request))
            let problem = try expectProblem(response, .badRequest)
            #expect(problem["type"] as? String == "urn:prefloss:problem:malformed-header")
            #expect(problem["header"] as? String == name)
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
        }
    }
}
