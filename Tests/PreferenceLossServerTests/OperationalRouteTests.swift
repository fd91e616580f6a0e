import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PreferenceLossServer
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

@Suite struct OperationalRouteTests {
    @Test func healthAndReadiness() async throws {
        try await withLiveServer { client in
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status == .ok && String(buffer: health.body) == #"{"status":"ok"}"#)
            #expect(try await client.execute(uri: "/health", method: .head).status == .ok)
            let ready = try await client.execute(uri: "/ready", method: .get)
            #expect(ready.status == .ok && String(buffer: ready.body) == #"{"status":"ready"}"#)
        }
    }

    @Test func metricsCountRequestsByRouteAndStatus() async throws {
        try await withLiveServer { client in
            _ = try await postLoss(client, #"{"chosen": {"logps": [-1]}, "rejected": {"logps": [-2]}}"#)
            _ = try await postLoss(client, "{")
            _ = try await client.execute(uri: "/no/such/path/\(UUID())", method: .get)
            _ = try await client.execute(uri: "/metrics", method: .put)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"prefloss_http_requests_total{route="/metrics",method="PUT",status="405"} 1"#))
            #expect(!metrics.contains(#"route="NotFound",method="PUT""#), "a 405 is its route's")
            #expect(metrics.contains(#"prefloss_http_requests_total{route="/v1/loss",method="POST",status="200"} 1"#))
            #expect(metrics.contains(#"prefloss_http_requests_total{route="/v1/loss",method="POST",status="400"} 1"#))
            #expect(metrics.contains(#"prefloss_http_requests_total{route="NotFound",method="GET",status="404"} 1"#))
            #expect(
                metrics.contains(
                    #"prefloss_http_request_duration_seconds_count{route="/v1/loss",method="POST",status="200"} 1"#))
            #expect(metrics.contains("prefloss_http_request_body_bytes_count 2"))
            #expect(metrics.contains("prefloss_http_requests_in_flight 1.0"), "the /metrics request itself")
        }
    }

    /// NIO frames nothing after a CONNECT (a tunnel), so its 405 closes the connection rather
    /// than leave the client waiting for a body or a next answer.
    @Test func aConnectIsAnsweredAndItsConnectionClosed() async throws {
        try await withLiveServer { client in
            let connection = try RawConnection(port: try #require(client.port), timeout: .seconds(30))
            connection.send("CONNECT /metrics HTTP/1.1\r\nHost: x\r\n\r\n" + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            let (answer, closedByServer) = await connection.receiveUntilClosed()
            #expect(
                answer.hasPrefix("HTTP/1.1 405") && answer.lowercased().contains("connection: close"),
                "\(answer.prefix(200))")
            #expect(closedByServer)
        }
    }

    @Test func idleConnectionsAreClosed() async throws {
        var settings = ServerSettings()
        settings.idleTimeout = .milliseconds(300)
        try await withLiveServer(settings) { client in
            // Send nothing: the server must hang up before the test's receive timeout.
            let (answer, closedByServer) = try await RawConnection(port: try #require(client.port)).receiveUntilClosed()
            #expect(answer.isEmpty && closedByServer)
        }
    }

    @Test func servesItsOpenAPIDocument() async throws {
        let onDisk = try String(
            contentsOfFile: #filePath.replacingOccurrences(
                of: "Tests/PreferenceLossServerTests/OperationalRouteTests.swift", with: "openapi.yaml"),
            encoding: .utf8)
        try await withLiveServer { client in
            let response = try await client.execute(uri: "/openapi.yaml", method: .get)
            #expect(response.status == .ok)
            #expect(String(buffer: response.body) == onDisk)
        }
    }

    @Test(arguments: ["/metrics", "/openapi.yaml", "/health", "/ready"])
    func headAnswersWithTheHeadersOfGetAndNoBody(_ path: String) async throws {
        try await withLiveServer { client in
            let port = try #require(client.port)
            let get = try await client.execute(uri: path, method: .get)
            let head = "HEAD \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            let answer = try await rawExchange(port: port, Array(head.utf8))
            let end = try #require(answer.range(of: "\r\n\r\n"))
            #expect(answer[end.upperBound...].isEmpty, "no body after the head")
            let lines = answer[..<end.lowerBound].split(separator: "\r\n")
            #expect(lines.first == "HTTP/1.1 200 OK")
            let fields = Dictionary(
                lines.dropFirst().compactMap { line -> (String, String)? in
                    guard let colon = line.firstIndex(of: ":") else { return nil }
                    let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    return (line[..<colon].lowercased(), value)
                }
            ) { first, _ in first }
            #expect(fields["content-type"] == get.headers[.contentType])
            let length = try #require(fields["content-length"].flatMap { Int($0) })
            if path == "/metrics" {
                #expect(length > 0, "each scrape counts itself, so the next GET is longer")
            } else {
                #expect(length == get.body.readableBytes)
            }
        }
    }

    @Test func readinessTurns503WhenShutdownBegins() async throws {
        var settings = ServerSettings()
        settings.drainDelay = .seconds(2)
        try await withServiceGroup(settings) { live, group in
            for port in [live.main, live.probes] {
                #expect(try await rawExchange(port: port, get("/ready")).hasPrefix("HTTP/1.1 200"))
            }
            await group.triggerGracefulShutdown()
            for port in [live.main, live.probes] {
                let draining = try await observe(
                    { try await rawExchange(port: port, get("/ready")) }, until: { $0.hasPrefix("HTTP/1.1 503") })
                #expect(draining.hasPrefix("HTTP/1.1 503"))
                #expect(draining.contains("application/problem+json"))
                #expect(
                    try await rawExchange(port: port, get("/health")).hasPrefix("HTTP/1.1 200"),
                    "still serving while draining")
            }
        }
    }
}
