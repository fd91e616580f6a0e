import Hummingbird
import HummingbirdTesting
import SimPOServer
import Testing

@Suite struct LoadSheddingTests {
    static let body = heldBody

    @Test func pastTheRequestBoundNewRequestsGet503ThenServiceResumes() async throws {
        var settings = ServerSettings()
        settings.maximumInFlightRequests = 1
        try await withLiveServer(settings) { client async throws in
            let held = try heldRequest(port: try #require(client.port))
            try await Task.sleep(for: .milliseconds(200))
            let shed = try await postLoss(client, Self.body)
            try expectProblem(shed, .serviceUnavailable)
            #expect(shed.headers[.retryAfter] == "1")
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok, "probes are never shed")
            #expect(await finish(held).hasPrefix("HTTP/1.1 200"), "the held request completes")
            #expect(try await postLoss(client, Self.body).status == .ok, "capacity is given back")
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains("simpo_http_requests_shed_total 1"))
        }
    }

    @Test func pastTheByteBoundLargeRequestsGet503() async throws {
        var settings = ServerSettings()
        settings.maximumInFlightBytes = 80
        try await withLiveServer(settings) { client async throws in
            let held = try heldRequest(port: try #require(client.port))  // holds 57 bytes
            try await Task.sleep(for: .milliseconds(200))
            try expectProblem(try await postLoss(client, Self.body), .serviceUnavailable)
            #expect(await finish(held).hasPrefix("HTTP/1.1 200"))
            #expect(try await postLoss(client, Self.body).status == .ok)
        }
    }
}
