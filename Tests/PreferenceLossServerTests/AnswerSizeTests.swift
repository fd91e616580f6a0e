import FastJSON
import Hummingbird
import HummingbirdTesting
import PreferenceLoss
import PreferenceLossCodec
import Safetensors
import Testing
import ZlibCoding

@testable import PreferenceLossServer

/// An answer's size is known once the request's document is parsed (a JSON DOM's array lengths,
/// a safetensors header's shapes): one that may not be given is refused then, before any input
/// is decoded; once given, it alone holds memory while it is written.
@Suite struct AnswerSizeTests {
    /// DPO with every loss type listed apart: the most arrays per pair.
    static let everyLossType =
        #"{"objective": "dpo", "label_smoothing": 0.001, "loss_type": ["#
        + DPOLossType.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ",") + "]}"

    /// A JSON request of `pairs` one-token rows under every loss type (some count tokens), with
    /// `extra` top-level members (an unknown key is refused when the body is decoded).
    static func everyLossTypeBody(pairs: Int, extra: String = "") -> String {
        let side = #"{"per_token_logps": [\#(Array(repeating: "[-1.5]", count: pairs).joined(separator: ","))]}"#
        let reference = #"{"logps": [\#(Array(repeating: "-2.5", count: pairs).joined(separator: ","))]}"#
        return
            #"{"config": \#(everyLossType), "chosen": \#(side), "rejected": \#(side), "#
            + #""reference_chosen": \#(reference), "reference_rejected": \#(reference)\#(extra)}"#
    }

    /// The outline the server sees of a JSON body.
    static func outline(json: String) throws -> RequestOutline {
        var bytes = Array(json.utf8)
        let count = bytes.count
        bytes += repeatElement(0, count: JSONParser.requiredPadding)
        let parser = try #require(JSONParser(maximumSize: 1 << 26))
        return try bytes.withUnsafeBytes { padded in
            try parser.parse(UnsafeRawBufferPointer(rebasing: padded[..<count]), spare: JSONParser.requiredPadding) {
                RequestOutline(json: $0)
            }
        }
    }

    @Test func anAnswerThatCouldNeverFitIsRefusedBeforeTheInputsAreDecoded() async throws {
        // Decoding would refuse the unknown key (422); the answer's memory is refused first.
        let body = Self.everyLossTypeBody(pairs: 20_000, extra: #", "unknown": 1"#)
        let outline = try Self.outline(json: body)
        #expect(outline.pairs == 20_000 && outline.pairArrays == 8 + DPOLossType.allCases.count)
        var settings = ServerSettings()
        settings.maximumInFlightBytes =
            MemoryModel.answering(outline, wireBytes: body.utf8.count, response: .json, gzip: false) - 1
        try await withLiveServer(settings) { client async throws in
            let problem = try expectProblem(try await postLoss(client, body), .contentTooLarge)
            #expect(problem["type"] as? String == ProblemType.contentTooLarge.uri)
            #expect((problem["detail"] as? String)?.contains("bytes of memory to answer") == true)
        }
    }

    @Test func aSafetensorsAnswerThatCouldNeverFitIsRefusedFromItsHeader() async throws {
        let pairs = 20_000
        let logps = f32(Array(repeating: -1.5, count: pairs))
        let file = safetensors(
            ["chosen", "rejected", "reference_chosen", "reference_rejected"].map {
                ("\($0).logps", "F32", [pairs], logps)
            }
                + [("unknown.tensor", "F32", [1], f32([0]))],
            metadata: ["config": Self.everyLossType])
        let parser = try #require(JSONParser(maximumSize: 1 << 20))
        let outline = try file.withUnsafeBytes { bytes in
            RequestOutline(
                safetensors: try SafetensorsFile(
                    parsing: bytes, maximumHeaderSize: LossRequest.maximumSafetensorsHeader, parser: parser),
                parser: parser)
        }
        #expect(outline.pairs == pairs && outline.pairArrays == 8 + DPOLossType.allCases.count)
        var settings = ServerSettings()
        settings.maximumInFlightBytes =
            MemoryModel.answering(outline, wireBytes: file.count, response: .json, gzip: false) - 1
        try await withLiveServer(settings) { client async throws in
            let problem = try expectProblem(try await post(client, file, headers: safetensorsType), .contentTooLarge)
            #expect((problem["detail"] as? String)?.contains("bytes of memory to answer") == true)
        }
    }

    @Test func anAnswerManyTimesTheRequestIsRefusedUnlessTheRatioIsOff() async throws {
        // 1 KB of gzip that would answer 10 MB of JSON.
        let body = Array(Self.everyLossTypeBody(pairs: 20_000).utf8)
        let gzip = try #require(gzipped(body))
        let headers: HTTPFields = [.contentType: "application/json", .contentEncoding: "gzip"]
        // Each on a server of its own: a 413 closes its connection.
        try await withLiveServer { client async throws in
            let problem = try expectProblem(try await post(client, gzip, headers: headers), .contentTooLarge)
            #expect(problem["type"] as? String == ProblemType.answerTooLarge.uri)
            #expect((problem["detail"] as? String)?.contains("--max-answer-ratio") == true)
        }
        try await withLiveServer { client async throws in
            #expect(try await post(client, body, headers: [.contentType: "application/json"]).status == .ok)
        }
        var settings = ServerSettings()
        settings.maximumAnswerRatio = nil
        try await withLiveServer(settings) { client async throws in
            #expect(try await post(client, gzip, headers: headers).status == .ok)
        }
    }

    /// While an answer is written, its request holds only the answer's bytes: the parser's
    /// buffers, the inputs and the results are given back, and a second request fits beside it.
    @Test func whileAnAnswerIsWrittenItsRequestHoldsOnlyTheAnswer() async throws {
        let rows = Array(repeating: "[-1.5]", count: 100_000).joined(separator: ",")
        let body =
            #"{"chosen": {"per_token_logps": [\#(rows)]}, "rejected": {"per_token_logps": [\#(rows)]}, "#
            + #""return_token_grads": true}"#
        let outline = try Self.outline(json: body)
        // Room for one request at its most, and for the other's answer beside it.
        var settings = ServerSettings()
        settings.maximumInFlightBytes =
            2 * MemoryModel.answering(outline, wireBytes: body.utf8.count, response: .json, gzip: false)
        try await withLiveServer(settings) { client async throws in
            let port = try #require(client.port)
            // A reader that takes the head and then nothing: the 20 MB answer stalls in the socket buffers.
            let reader = try RawConnection(port: port, receiveBuffer: 4096)
            reader.send(
                "POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            )
            let head = await reader.receive(until: "\r\n\r\n")
            #expect(head.hasPrefix("HTTP/1.1 200"))
            let length = try #require(
                head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: " ").last ?? "") })
            // Neither the parsing's nor the answering's estimate: the answer and what is written ahead.
            let reserved = Double(MemoryModel.writing(answerBytes: length))
            try await waitForMetric(port: port, "prefloss_memory_reserved_bytes \(reserved)")
            #expect(try await postLoss(client, body).status == .ok)
            reader.close()
            try await waitForMetric(port: port, "prefloss_memory_reserved_bytes 0.0")
        }
    }
}
