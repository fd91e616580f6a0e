import Hummingbird
import HummingbirdTesting
import Testing

@testable import PreferenceLossServer

/// What the connection guards make of a request head before any route sees it (RFC 9112 §3.2,
/// §6.1, §6.3; RFC 9110 §10.1.1), over real sockets: a head whose framing or Host cannot be
/// trusted is the connection's last answer, on every route and before the token is checked.
@Suite struct RequestHeadTests {
    /// A server whose `/v1/loss` needs a token: a refused head must be answered before the 401.
    static func settings() throws -> ServerSettings {
        var settings = ServerSettings()
        settings.bearerTokens = try #require(BearerTokens(["head-token"]))
        return settings
    }

    /// A request pipelined after the one under test: it must never be answered.
    static let after = "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"

    /// Expects `answer` to be a single problem of `status` and `type` that closes the connection.
    static func expectLastAnswer(
        _ answer: (text: String, closedByServer: Bool), _ status: Int, _ type: String, header: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let text = answer.text
        #expect(text.hasPrefix("HTTP/1.1 \(status) "), "\(text.prefix(300))", sourceLocation: sourceLocation)
        #expect(text.contains("\"type\":\"urn:prefloss:problem:\(type)\""), sourceLocation: sourceLocation)
        if let header { #expect(text.contains("\"header\":\"\(header)\""), sourceLocation: sourceLocation) }
        #expect(text.lowercased().contains("connection: close"), sourceLocation: sourceLocation)
        #expect(statusLines(text) == 1, "one answer only", sourceLocation: sourceLocation)
        #expect(answer.closedByServer, sourceLocation: sourceLocation)
    }

    /// How many answers `text` holds (a problem's detail may say HTTP/1.1 too).
    static func statusLines(_ text: String) -> Int {
        text.matches(of: #/HTTP/1\.1 \d{3} /#).count
    }

    static func exchange(port: Int, _ request: String) async throws -> (text: String, closedByServer: Bool) {
        let connection = try RawConnection(port: port)
        connection.send(request)
        return await connection.receiveUntilClosed()
    }

    @Test(arguments: [
        "GET /health HTTP/1.1\r\n\r\n", "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: a b\r\n\r\n", "GET /health HTTP/1.1\r\nHost: a@b:80\r\n\r\n",
        "POST /v1/loss HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        "GET /nowhere HTTP/1.0\r\nHost: x:y\r\n\r\n",
    ])
    func aMissingRepeatedOrInvalidHostIs400AndTheLastAnswer(_ request: String) async throws {
        try await withLiveServer(try Self.settings()) { client async throws in
            let port = try #require(client.port)
            let answer = try await Self.exchange(port: port, request + Self.after)
            Self.expectLastAnswer(answer, 400, "malformed-header", header: "Host")
        }
    }

    @Test func anHTTP10RequestNeedsNoHost() async throws {
        try await withLiveServer { client async throws in
            let port = try #require(client.port)
            let answer = try await Self.exchange(port: port, "GET /health HTTP/1.0\r\n\r\n")
            #expect(answer.text.hasPrefix("HTTP/1.1 200 "), "\(answer.text)")
        }
    }

    @Test(arguments: [
        ("GET /health HTTP/1.1", "gzip", 400, "malformed-request"),
        ("POST /v1/loss HTTP/1.1", "gzip", 400, "malformed-request"),
        ("POST /v1/loss HTTP/1.1", "chunked, gzip", 400, "malformed-request"),
        ("POST /v1/loss HTTP/1.1", "gzip, chunked", 501, "not-implemented"),
        // The parser refuses chunked before another coding, or twice, on its own.
        ("GET /health HTTP/1.1", "chunked, chunked", 400, "malformed-request"),
        ("POST /v1/loss HTTP/1.1", "chunked;x=1", 400, "malformed-header"),
        ("POST /v1/loss HTTP/1.0", "chunked", 400, "malformed-request"),
    ])
    func aTransferEncodingNotJustChunkedIsRefusedBeforeRoutingAndTheLastAnswer(
        _ requestLine: String, _ codings: String, _ status: Int, _ type: String
    ) async throws {
        try await withLiveServer(try Self.settings()) { client async throws in
            let port = try #require(client.port)
            let request =
                "\(requestLine)\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: \(codings)\r\n\r\n"
                + "2\r\n{}\r\n0\r\n\r\n"
            let answer = try await Self.exchange(port: port, request + Self.after)
            Self.expectLastAnswer(answer, status, type)
        }
    }

    @Test func aRefusedHeadIsAnsweredAfterTheRequestsPipelinedBeforeIt() async throws {
        try await withLiveServer { client async throws in
            let port = try #require(client.port)
            let answer = try await Self.exchange(
                port: port,
                "GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: first\r\n\r\n"
                    + "GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n" + Self.after)
            let statuses = answer.text.matches(of: #/HTTP/1\.1 (\d{3}) /#).map { String($0.output.1) }
            #expect(statuses == ["200", "400"], "\(answer.text)")
            let text = answer.text.lowercased()
            let first = try #require(text.range(of: "x-request-id: first"))
            // The head's own problem, not the parser's later complaint about the same bytes.
            let problem = try #require(text.range(of: "transfer-encoding gzip does not end in chunked"))
            #expect(first.upperBound < problem.lowerBound)
            #expect(answer.closedByServer)
        }
    }

    /// RFC 9110 §10.1.1: an HTTP/1.0 client's 100-continue is ignored; an HTTP/1.1 client's gets
    /// its `100 Continue`.
    @Test(arguments: [("HTTP/1.0", false), ("HTTP/1.1", true)])
    func onlyAnHTTP11ClientGets100Continue(_ version: String, _ continues: Bool) async throws {
        try await withLiveServer { client async throws in
            let port = try #require(client.port)
            let body = #"{"chosen": {"logps": [-1]}, "rejected": {"logps": [-2]}}"#
            let answer = try await Self.exchange(
                port: port,
                "POST /v1/loss \(version)\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                    + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
            #expect(answer.text.hasPrefix("HTTP/1.1 100 Continue\r\n\r\n") == continues, "\(answer.text.prefix(200))")
            #expect(answer.text.contains("HTTP/1.1 200 OK"))
        }
    }

    /// Every route answers an expectation other than 100-continue with 417, before the token.
    @Test(arguments: ["GET /health", "GET /nowhere", "POST /v1/loss"])
    func anExpectationOtherThan100ContinueIs417OnEveryRoute(_ request: String) async throws {
        try await withLiveServer(try Self.settings()) { client async throws in
            let port = try #require(client.port)
            let answer = try await Self.exchange(
                port: port,
                "\(request) HTTP/1.1\r\nHost: x\r\nExpect: 100-continue, x-other\r\nConnection: close\r\n\r\n")
            #expect(answer.text.hasPrefix("HTTP/1.1 417 "), "\(answer.text.prefix(200))")
            #expect(answer.text.contains("urn:prefloss:problem:expectation-failed"))
        }
    }

    @Test(arguments: [
        (nil, RequestExpectation.none), ("", .none), (" , ", .none), ("100-continue", .continue),
        ("100-Continue , 100-continue", .continue), ("\t100-continue ", .continue), ("100-continue, x", .unmet),
        ("100-continue=1", .unmet), ("x", .unmet),
    ])
    func expectationsAreReadAsAList(_ value: String?, _ expectation: RequestExpectation) {
        #expect(RequestExpectation(value) == expectation)
    }
}
