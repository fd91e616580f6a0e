import FastJSON
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PreferenceLossCodec
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

@testable import PreferenceLossServer

#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` against a live server (real sockets, an ephemeral port) built from `settings`.
func withLiveServer<T>(
    _ settings: ServerSettings = ServerSettings(),
    _ body: @Sendable (any TestClientProtocol) async throws -> T
) async throws -> T {
    var logger = Logger(label: "prefloss-server-tests")
    logger.logLevel = .warning
    let service = try LossService(settings: settings, registry: PrometheusCollectorRegistry(), logger: logger)
    return try await service.application.test(.live, body)
}

/// The ports of a server that `withServiceGroup` runs.
struct LivePorts: Sendable {
    let main: Int
    /// The probe listener's (`ServerSettings.probePort`).
    let probes: Int
}

/// Runs the service's own services (readiness and drain included) in a ServiceGroup on
/// ephemeral ports, the probe listener's too, and hands `body` the ports and the group, so a
/// test can trigger a graceful shutdown; returns once the group has stopped. The group has no
/// signal handlers: a SIGTERM to the test process would stop every other live test server too.
func withServiceGroup(
    _ settings: ServerSettings, _ body: @Sendable (LivePorts, ServiceGroup) async throws -> Void
) async throws {
    var settings = settings
    settings.port = 0
    settings.probePort = 0
    let ports = Mutex<(main: Int?, probes: Int?)>((nil, nil))
    let service = try LossService(
        settings: settings, registry: PrometheusCollectorRegistry(), logger: Logger(label: "test"),
        onServerRunning: { bound in ports.withLock { $0.main = bound } },
        onProbeServerRunning: { bound in ports.withLock { $0.probes = bound } })
    let group = ServiceGroup(configuration: .init(services: service.services, logger: Logger(label: "test")))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var bound: LivePorts?
        for _ in 0 ..< 100 where bound == nil {
            try await Task.sleep(for: .milliseconds(50))
            bound = ports.withLock { ports in
                ports.main.flatMap { main in ports.probes.map { LivePorts(main: main, probes: $0) } }
            }
        }
        try await body(try #require(bound), group)
        try await tasks.waitForAll()
    }
}

/// `GET path` with `Connection: close`, as raw bytes.
func get(_ path: String) -> [UInt8] {
    Array("GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)
}

/// Posts `json` to /v1/loss.
func postLoss(
    _ client: some TestClientProtocol, _ json: String, contentType: String = "application/json"
) async throws -> TestResponse {
    try await client.execute(
        uri: "/v1/loss", method: .post, headers: [.contentType: contentType], body: ByteBuffer(string: json))
}

/// The response body as a JSON object of Double, Int, String, Bool, NSNull, arrays and dictionaries.
///
/// Parsed with simdjson, not Foundation: swift-corelibs-foundation's JSONSerialization
/// misreads some 17-digit numbers by an ulp, which would hide or fake exactness bugs.
func jsonObject(_ response: TestResponse) throws -> [String: Any] {
    let parser = try #require(JSONParser(maximumSize: 1 << 30))
    let any = try response.body.withUnsafeReadableBytes { bytes in try parser.parse(bytes, spare: 0, plainValue) }
    return try #require(any as? [String: Any])
}

private func plainValue(_ value: JSONValue) -> Any {
    switch value.kind {
    case .integer: return Int(value.int64 ?? 0)
    case .unsignedInteger, .double: return value.double ?? 0
    case .string: return value.string ?? ""
    case .bool: return value.bool ?? false
    case .null: return NSNull()
    case .array: return value.elements.map(plainValue)
    case .object: return Dictionary(value.fields.map { ($0.key, plainValue($0.value)) }) { first, _ in first }
    }
}

/// A problem+json response's pointers, in order.
func pointers(_ response: TestResponse) throws -> [String] {
    let errors = try #require(try jsonObject(response)["errors"] as? [[String: Any]])
    return errors.compactMap { $0["pointer"] as? String }
}

/// Expects an RFC 9457 problem with `status`, returning its JSON.
@discardableResult
func expectProblem(
    _ response: TestResponse, _ status: HTTPResponse.Status, sourceLocation: SourceLocation = #_sourceLocation
) throws -> [String: Any] {
    #expect(response.status == status, sourceLocation: sourceLocation)
    #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
    let problem = try jsonObject(response)
    #expect(problem["status"] as? Int == Int(status.code), sourceLocation: sourceLocation)
    for key in ["type", "title", "detail"] {
        #expect((problem[key] as? String)?.isEmpty == false, "problem has a \(key)", sourceLocation: sourceLocation)
    }
    return problem
}

/// Sends raw bytes to 127.0.0.1:`port` and returns everything the server answers
/// until it closes the connection or `timeout` passes.
func rawExchange(port: Int, _ request: [UInt8], timeout: Duration = .seconds(10)) async throws -> String {
    let connection = try RawConnection(port: port, timeout: timeout)
    connection.send(request)
    return await connection.receiveAll()
}

struct SocketError: Error, CustomStringConvertible {
    var description: String
}

/// A plain TCP connection to 127.0.0.1, for requests no HTTP client would send:
/// partial bodies, stalls, malformed framing.
final class RawConnection: @unchecked Sendable {
    private let socket: Int32
    private let closed = Mutex(false)

    /// - Parameter receiveBuffer: a small socket receive buffer makes the server's writes stall
    ///   as soon as this side stops reading.
    init(port: Int, timeout: Duration = .seconds(10), receiveBuffer: Int32? = nil) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw SocketError(description: "socket() failed: errno \(errno)") }
        var seconds = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &seconds, socklen_t(MemoryLayout<timeval>.size))
        if var size = receiveBuffer {
            setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(socket)
            throw SocketError(description: "connect() to port \(port) failed: errno \(errno)")
        }
    }

    deinit { close() }

    /// Closes the connection (once).
    func close() {
        let wasClosed = closed.withLock { closed in
            defer { closed = true }
            return closed
        }
        if !wasClosed { Glibc.close(socket) }
    }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    func send(_ text: String) { send(Array(text.utf8)) }

    /// Sends `text` on a thread of its own, without waiting for it: a large send blocks until
    /// the server reads it, which on the cooperative pool would starve the live server's handlers.
    func sendInBackground(_ text: String) {
        let bytes = Array(text.utf8)
        Thread { self.send(bytes) }.start()
    }

    /// What is received until `marker` has arrived, the server closes the connection, or the timeout passes.
    func receive(until marker: String) async -> String {
        await receive { received in
            received.count >= marker.utf8.count && String(decoding: received, as: UTF8.self).contains(marker)
        }.text
    }

    /// Everything received until the server closes the connection or the timeout passes.
    func receiveAll() async -> String {
        await receiveUntilClosed().text
    }

    /// Everything received, and whether the server closed the connection (rather than the
    /// receive timeout passing): what a test of a server-side timeout asserts, instead of a
    /// bound on the time it took.
    func receiveUntilClosed() async -> (text: String, closedByServer: Bool) {
        await receive { _ in false }
    }

    /// The blocking reads run on a thread of their own: on the cooperative pool (two threads
    /// on a 2-core machine) they would starve the live server's handlers.
    private func receive(
        until done: @escaping @Sendable ([UInt8]) -> Bool
    ) async -> (text: String, closedByServer: Bool) {
        await withCheckedContinuation { continuation in
            Thread {
                var received: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 65536)
                var closedByServer = false
                while !done(received) {
                    let count = chunk.withUnsafeMutableBytes { recv(self.socket, $0.baseAddress, $0.count, 0) }
                    // 0: the server closed; -1: the receive timeout passed (or the connection was reset).
                    if count == 0 || (count < 0 && errno == ECONNRESET) { closedByServer = true }
                    if count <= 0 { break }
                    received += chunk[0 ..< count]
                }
                continuation.resume(returning: (String(decoding: received, as: UTF8.self), closedByServer))
            }.start()
        }
    }
}

/// The small loss request that `heldRequest` and `finish` send.
let heldBody = #"{"chosen": {"logps": [-1]}, "rejected": {"logps": [-2]}}"#

/// A request whose headers and half its body are sent: the server holds it until `finish`.
func heldRequest(port: Int) throws -> RawConnection {
    let connection = try RawConnection(port: port)
    connection.send(
        "POST /v1/loss HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(heldBody.utf8.count)\r\nConnection: close\r\n\r\n"
    )
    connection.send(Array(heldBody.utf8.prefix(heldBody.utf8.count / 2)))
    return connection
}

/// What a held request reserves: the parsing of the half body it sent (it takes no request
/// slot until its body has arrived).
let heldReservation = MemoryModel.receiving(bodyBytes: heldBody.utf8.count / 2, compressed: false)

/// Sends the rest of a held request's body and returns the whole response.
func finish(_ connection: RawConnection) async -> String {
    connection.send(Array(heldBody.utf8.dropFirst(heldBody.utf8.count / 2)))
    return await connection.receiveAll()
}

/// `value()`'s first result that satisfies `done`, taken every 20 ms for up to 30 s: tests
/// wait for a state, not for a fixed time. Records an issue and returns the last result if
/// the state never comes.
func observe<T>(
    _ value: () async throws -> T, until done: (T) -> Bool, sourceLocation: SourceLocation = #_sourceLocation
) async throws -> T {
    let deadline = ContinuousClock.now + .seconds(30)
    var current = try await value()
    while !done(current) {
        guard ContinuousClock.now < deadline else {
            Issue.record("the awaited state did not come within 30 s: \(current)", sourceLocation: sourceLocation)
            return current
        }
        try await Task.sleep(for: .milliseconds(20))
        current = try await value()
    }
    return current
}

/// The registry's exposition text.
func scrape(_ registry: PrometheusCollectorRegistry) -> String {
    String(decoding: registry.emitToBuffer(), as: UTF8.self)
}
