import FastJSON
import Hummingbird
import HummingbirdTesting
import PreferenceLossCodec
import Testing
import ZlibCoding

@testable import PreferenceLossServer

@Suite struct LoadSheddingTests {
    static let body = heldBody

    @Test func pastTheRequestBoundNewRequestsGet503ThenServiceResumes() async throws {
        var settings = ServerSettings()
        settings.maximumInFlightRequests = 1
        try await withLiveServer(settings) { client async throws in
            let port = try #require(client.port)
            // A request holds its slot from the end of its body to the end of its answer: one whose
            // large answer is not read holds it until read.
            let held = try RawConnection(port: port, timeout: .seconds(30), receiveBuffer: 4096)
            let body = DrainAndTimeoutTests.largeAnswerBody
            held.sendInBackground(
                "POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            )
            try await waitForMetric(port: port, "prefloss_loss_requests_admitted 1.0")
            let shed = try await postLoss(client, Self.body)
            try expectProblem(shed, .serviceUnavailable)
            #expect(shed.headers[.retryAfter] == "1")
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok, "probes are never shed")
            #expect(await held.receiveAll().hasPrefix("HTTP/1.1 200"), "the held request completes")
            try await waitForMetric(port: port, "prefloss_loss_requests_admitted 0.0")
            #expect(try await postLoss(client, Self.body).status == .ok, "capacity is given back")
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains("prefloss_http_requests_shed_total 1"))
        }
    }

    @Test func aBodyThatHasNotArrivedHoldsNoRequestSlot() async throws {
        var settings = ServerSettings()
        settings.maximumInFlightRequests = 1
        try await withLiveServer(settings) { client async throws in
            let port = try #require(client.port)
            let held = try (0 ..< 3).map { _ in try heldRequest(port: port) }
            try await waitForMetric(port: port, "prefloss_memory_reserved_bytes \(Double(3 * heldReservation))")
            #expect(try await postLoss(client, Self.body).status == .ok, "served while three bodies stall")
            for connection in held { #expect(await finish(connection).hasPrefix("HTTP/1.1 200")) }
        }
    }

    @Test func pastTheMemoryBoundRequestsGet503AndAnswersGiveTheMemoryBack() async throws {
        // A held request reserves what it sent (half its body); the budget then cannot take a
        // whole second request besides it, but holds either alone.
        let held = heldReservation
        let whole = try mostReserved(json: Self.body)
        var settings = ServerSettings()
        settings.maximumInFlightBytes = whole + held / 2
        try await withLiveServer(settings) { client async throws in
            let port = try #require(client.port)
            let heldRequest = try heldRequest(port: port)
            try await waitForMetric(port: port, "prefloss_memory_reserved_bytes \(Double(held))")
            try expectProblem(try await postLoss(client, Self.body), .serviceUnavailable)
            #expect(await finish(heldRequest).hasPrefix("HTTP/1.1 200"))
            try await waitForMetric(port: port, "prefloss_memory_reserved_bytes 0.0")
            #expect(try await postLoss(client, Self.body).status == .ok)
        }
    }

    /// A compressed body reserves its parsing by its inflated size, not by the inflater's
    /// doubling buffer: what fits the budget plain fits it gzipped.
    @Test func aGzipBodyNeedsNoMoreBudgetThanItsPlainTwin() async throws {
        let row = "[" + Array(repeating: "-1.5", count: 20_000).joined(separator: ",") + "]"
        let body = Array(
            #"{"chosen": {"per_token_logps": [\#(row)]}, "rejected": {"per_token_logps": [\#(row)]}}"#.utf8)
        var settings = ServerSettings()
        settings.maximumInFlightBytes = try mostReserved(json: String(decoding: body, as: UTF8.self)) * 6 / 5
        let gzip = try #require(gzipped(body))
        try await withLiveServer(settings) { client async throws in
            let plain = try await client.execute(
                uri: "/v1/loss", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(bytes: body))
            #expect(plain.status == .ok)
            let compressed = try await client.execute(
                uri: "/v1/loss", method: .post, headers: [.contentType: "application/json", .contentEncoding: "gzip"],
                body: ByteBuffer(bytes: gzip))
            #expect(compressed.status == .ok, "\(String(buffer: compressed.body).prefix(300))")
        }
    }

    @Test func aRequestLargerThanTheWholeBudgetIs413NotRetried() async throws {
        var settings = ServerSettings()
        settings.maximumInFlightBytes = 100
        try await withLiveServer(settings) { client async throws in
            let problem = try expectProblem(try await postLoss(client, Self.body), .contentTooLarge)
            #expect((problem["detail"] as? String)?.contains("in-flight limit of 100") == true)
        }
    }
}

/// The most `MemoryModel` reserves for a plain JSON body at any step, answered as JSON (its
/// answer, written, holds less than answering it).
private func mostReserved(json: String) throws -> Int {
    var bytes = Array(json.utf8)
    let count = bytes.count
    bytes += repeatElement(0, count: JSONParser.requiredPadding)
    let parser = try #require(JSONParser(maximumSize: 1 << 26))
    return try bytes.withUnsafeBytes { padded in
        let body = UnsafeRawBufferPointer(rebasing: padded[..<count])
        let request = try LossRequest(body: body, spare: JSONParser.requiredPadding, format: .json, parser: parser)
        return max(
            MemoryModel.receiving(bodyBytes: count, compressed: false),
            MemoryModel.parsing(json: JSONStructure(counting: body), plainBytes: count, wireBytes: 0),
            MemoryModel.answering(RequestOutline(request), wireBytes: count, response: .json, gzip: false))
    }
}

/// Waits (up to 30 s) until the server's /metrics has the line `line`.
func waitForMetric(port: Int, _ line: String) async throws {
    _ = try await observe(
        { try await rawExchange(port: port, get("/metrics")) },
        until: { metrics in
            metrics.split(separator: "\n").contains { $0 == line }
        })
}
