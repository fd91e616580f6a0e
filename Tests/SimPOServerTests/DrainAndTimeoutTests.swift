import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import ServiceLifecycle
import SimPOServer
import Synchronization
import Testing

@Suite struct DrainAndTimeoutTests {
    @Test func acceptedRequestsCompleteDuringDrainThenNewConnectionsAreRefused() async throws {
        var settings = ServerSettings()
        settings.drainDelay = .seconds(1)
        let port = Mutex<Int>(0)
        try await withServiceGroup(settings) { live, group in
            port.withLock { $0 = live }
            let inFlight = try (0 ..< 3).map { _ in try heldRequest(port: live) }
            try await Task.sleep(for: .milliseconds(200))
            await group.triggerGracefulShutdown()
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await rawExchange(port: live, get("/ready")).hasPrefix("HTTP/1.1 503"), "draining")
            // Past the drain delay the listener closes, but the accepted requests are still open.
            try await Task.sleep(for: .milliseconds(1200))
            var completed = 0
            for connection in inFlight where await finish(connection).hasPrefix("HTTP/1.1 200") {
                completed += 1
            }
            #expect(completed == 3, "every accepted request completes")
        }
        #expect(throws: SocketError.self, "after shutdown nothing listens") { try RawConnection(port: port.withLock { $0 }) }
    }

    @Test func aTricklingBodyGets408() async throws {
        var settings = ServerSettings()
        settings.bodyTimeout = .milliseconds(400)
        // After the 408 the server drains the rest of the body; the idle timeout ends the
        // connection once the trickle stops.
        settings.idleTimeout = .seconds(1)
        try await withLiveServer(settings) { client async throws in
            let connection = try RawConnection(port: try #require(client.port))
            let body = Array(heldBody.utf8)
            connection.send("POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n")
            let start = ContinuousClock.now
            for byte in body {
                connection.send([byte])
                try await Task.sleep(for: .milliseconds(40))
                if ContinuousClock.now - start > .seconds(1) { break }
            }
            let answer = await connection.receiveAll()
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer.prefix(200))")
            #expect(answer.contains("application/problem+json"))
        }
    }

    @Test func aStalledBodyIsClosedByTheIdleTimeoutAndCountedNotCrashed() async throws {
        var settings = ServerSettings()
        settings.idleTimeout = .milliseconds(300)
        try await withLiveServer(settings) { client async throws in
            let start = ContinuousClock.now
            let held = try heldRequest(port: try #require(client.port))
            let answer = await held.receiveAll()
            #expect(!answer.hasPrefix("HTTP/1.1 200"))
            #expect(ContinuousClock.now - start < .seconds(5), "closed long before the 10 s receive timeout")
            // A fresh connection: the test client's own one idled out meanwhile.
            let metrics = try await rawExchange(port: try #require(client.port), get("/metrics"))
            #expect(metrics.contains(#"simpo_http_problems_total{type="incomplete-body"} 1"#))
            #expect(!metrics.contains("internal-server-error"))
        }
    }
}
