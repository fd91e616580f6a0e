import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PreferenceLossServer
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

@Suite struct DrainAndTimeoutTests {
    @Test func acceptedRequestsCompleteDuringDrainThenNewConnectionsAreRefused() async throws {
        var settings = ServerSettings()
        settings.drainDelay = .seconds(2)
        try await withServiceGroup(settings) { live, group in
            let inFlight = try (0 ..< 3).map { _ in try heldRequest(port: live.main) }
            try await waitForMetric(port: live.main, "prefloss_memory_reserved_bytes \(Double(3 * heldReservation))")
            await group.triggerGracefulShutdown()
            try await waitUntil("/ready reports the drain") {
                try await rawExchange(port: live.main, get("/ready")).hasPrefix("HTTP/1.1 503")
            }
            // Past the drain delay the listener closes, but the accepted requests are still open,
            // and the probe listener serves until they are done.
            try await waitUntil("the listener closes") { (try? RawConnection(port: live.main)) == nil }
            #expect(try await rawExchange(port: live.probes, get("/health")).hasPrefix("HTTP/1.1 200"))
            var completed = 0
            for connection in inFlight where await finish(connection).hasPrefix("HTTP/1.1 200") {
                completed += 1
            }
            #expect(completed == 3, "every accepted request completes")
        }
    }

    @Test func aStalledBodyGets408FromTheTimerAndGivesItsMemoryBack() async throws {
        var settings = ServerSettings()
        settings.bodyTimeout = .milliseconds(500)
        try await withLiveServer(settings) { client async throws in
            let port = try #require(client.port)
            let held = try heldRequest(port: port)  // half a body, then nothing
            let (answer, closedByServer) = await held.receiveUntilClosed()
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer.prefix(200))")
            #expect(answer.contains("application/problem+json") && answer.lowercased().contains("connection: close"))
            #expect(closedByServer, "cut off by the timer, not by the test's receive timeout")
            try await waitForMetric(port: port, "prefloss_memory_reserved_bytes 0.0")
            try await waitForMetric(port: port, "prefloss_loss_requests_admitted 0.0")
        }
    }

    @Test func aTricklingBodyGets408() async throws {
        var settings = ServerSettings()
        settings.bodyTimeout = .milliseconds(400)
        try await withLiveServer(settings) { client async throws in
            let connection = try RawConnection(port: try #require(client.port))
            let body = Array(heldBody.utf8)
            connection.send(
                "POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
            )
            let trickle = Task {
                for byte in body.dropLast() {
                    connection.send([byte])
                    try await Task.sleep(for: .milliseconds(40))
                }
            }
            let answer = await connection.receiveAll()
            trickle.cancel()
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer.prefix(200))")
            #expect(answer.contains("application/problem+json"))
        }
    }

    @Test func aStalledBodyIsClosedByTheIdleTimeoutAndCountedNotCrashed() async throws {
        var settings = ServerSettings()
        settings.idleTimeout = .milliseconds(300)
        try await withLiveServer(settings) { client async throws in
            let held = try heldRequest(port: try #require(client.port))
            let (answer, closedByServer) = await held.receiveUntilClosed()
            #expect(answer.isEmpty, "the idle timeout closes the connection without an answer: \(answer.prefix(200))")
            #expect(closedByServer, "closed by the server, not by the test's receive timeout")
            // A fresh connection: the test client's own one idled out meanwhile.
            let port = try #require(client.port)
            try await waitForMetric(port: port, #"prefloss_http_problems_total{type="incomplete-body"} 1"#)
            #expect(!(try await rawExchange(port: port, get("/metrics"))).contains("internal-server-error"))
        }
    }

    @Test func aKeptAliveConnectionIdlesOutAfterAServedLossRequest() async throws {
        var settings = ServerSettings()
        settings.idleTimeout = .milliseconds(300)
        try await withLiveServer(settings) { client async throws in
            let connection = try RawConnection(port: try #require(client.port))
            connection.send(
                "POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(heldBody.utf8.count)\r\n\r\n\(heldBody)"
            )
            #expect(await connection.receive(until: "warnings").hasPrefix("HTTP/1.1 200"))
            #expect(
                await connection.receiveUntilClosed().closedByServer,
                "the response ended, so the idle timeout runs again")
        }
    }

    /// The connection closes only once a large answer is written: `Connection: close` and HTTP/1.0 alike.
    @Test(arguments: ["HTTP/1.1\r\nConnection: close", "HTTP/1.0"])
    func aLargeAnswerBeforeACloseArrivesWhole(_ version: String) async throws {
        let body = Self.largeAnswerBody
        try await withLiveServer { client async throws in
            let connection = try RawConnection(port: try #require(client.port), timeout: .seconds(30))
            connection.send(
                "POST /v1/loss \(version)\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            )
            let answer = await connection.receiveAll()
            let head = try #require(answer.range(of: "\r\n\r\n"))
            let length = try #require(
                answer[..<head.lowerBound].split(separator: "\r\n").first {
                    $0.lowercased().hasPrefix("content-length:")
                })
            #expect(answer.hasPrefix("HTTP/1.1 200"))
            #expect(
                Int(length.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
                    == answer[head.upperBound...].utf8.count)
            #expect(answer.utf8.count > 4_000_000, "a large answer: \(answer.utf8.count) bytes")
        }
    }

    /// A request whose answer (about 5 MB of token gradients as JSON) is large.
    static let largeAnswerBody: String = {
        let row = "[" + Array(repeating: "-1.25", count: 4096).joined(separator: ",") + "]"
        let rows = "[" + Array(repeating: row, count: 64).joined(separator: ",") + "]"
        return
            #"{"chosen": {"per_token_logps": \#(rows)}, "rejected": {"per_token_logps": \#(rows)}, "return_token_grads": true}"#
    }()

    @Test func aClientThatNeverReadsItsAnswerIsDisconnectedAndItsMemoryFreed() async throws {
        var settings = ServerSettings()
        // Long enough that the stalled request is seen admitted even on a loaded machine.
        settings.idleTimeout = .seconds(3)
        try await withLiveServer(settings) { client async throws in
            let port = try #require(client.port)
            let body = Self.largeAnswerBody
            let connection = try RawConnection(port: port, receiveBuffer: 4096)
            // Two pipelined requests: the first answer, or the second, stalls (and, as the server
            // reads nothing while an answer stalls, so may the rest of the requests).
            let request =
                "POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            connection.sendInBackground(request + request)
            try await waitForMetric(port: port, "prefloss_loss_requests_admitted 1.0")
            try await waitForMetric(port: port, "prefloss_loss_requests_admitted 0.0")
            try await waitForMetric(port: port, "prefloss_memory_reserved_bytes 0.0")
            withExtendedLifetime(connection) {}
        }
    }

    @Test func aTrickledHeadIsCutOffByTheHeaderTimeoutButAnIdleConnectionIsNot() async throws {
        var settings = ServerSettings()
        settings.headerTimeout = .milliseconds(500)
        try await withLiveServer(settings) { client async throws in
            let port = try #require(client.port)
            let idle = try RawConnection(port: port)
            idle.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await idle.receive(until: "\r\n\r\n").hasPrefix("HTTP/1.1 200"))
            let trickled = try RawConnection(port: port)
            let trickle = Task {
                for byte in "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8
                    + Array(repeating: UInt8(ascii: "a"), count: 200)
                {
                    trickled.send([byte])
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            let (answer, closedByServer) = await trickled.receiveUntilClosed()
            trickle.cancel()
            #expect(answer.isEmpty && closedByServer, "closed at the header timeout")
            // The connection that sent nothing for as long since its answer is still open and served.
            idle.send(get("/health"))
            #expect(await idle.receiveAll().contains("HTTP/1.1 200"))
        }
    }

    @Test func aNewConnectionThatSendsNothingIsClosedAtTheHeaderTimeout() async throws {
        var settings = ServerSettings()
        settings.headerTimeout = .milliseconds(300)
        settings.idleTimeout = .seconds(600)
        try await withLiveServer(settings) { client async throws in
            let silent = try RawConnection(port: try #require(client.port))
            let (answer, closedByServer) = await silent.receiveUntilClosed()
            #expect(answer.isEmpty && closedByServer, "closed at the header timeout, not the idle timeout")
        }
    }

    @Test func pastTheConnectionLimitNewConnectionsWaitTheirTurn() async throws {
        var settings = ServerSettings()
        settings.maximumConnections = 1
        // The application's own configuration: Hummingbird's live test client drops the limit.
        try await withServiceGroup(settings) { live, group in
            // In a request (its body half sent), so not closed to make room as an idle one would be.
            let holder = try heldRequest(port: live.main)
            try await waitForMetric(port: live.probes, "prefloss_memory_reserved_bytes \(Double(heldReservation))")
            let waiting = try await rawExchange(port: live.main, get("/health"), timeout: .seconds(1))
            #expect(waiting.isEmpty, "a second connection waits while the first is open: \(waiting.prefix(100))")
            #expect(await finish(holder).hasPrefix("HTTP/1.1 200"))
            #expect(
                try await rawExchange(port: live.main, get("/health")).hasPrefix("HTTP/1.1 200"),
                "served once the first closed")
            await group.triggerGracefulShutdown()
        }
    }

    @Test func atTheConnectionLimitAnIdleConnectionMakesRoom() async throws {
        var settings = ServerSettings()
        settings.maximumConnections = 2
        try await withServiceGroup(settings) { live, group in
            let idle = try RawConnection(port: live.main)
            idle.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await idle.receive(until: "\r\n\r\n").hasPrefix("HTTP/1.1 200"))
            // The second connection fills the cap: the idle one is closed to keep room for a third.
            #expect(try await rawExchange(port: live.main, get("/health")).hasPrefix("HTTP/1.1 200"))
            #expect(await idle.receiveUntilClosed().closedByServer, "the idle one was closed for it")
            await group.triggerGracefulShutdown()
        }
    }
}

/// Polls `condition` every 20 ms until it holds; records an issue after 30 s.
func waitUntil(_ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(30)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("\(what): not within 30 s")
}
