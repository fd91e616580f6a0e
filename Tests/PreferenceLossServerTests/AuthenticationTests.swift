import Hummingbird
import HummingbirdTesting
import PreferenceLossServer
import Testing

@Suite struct AuthenticationTests {
    static let request = #"{"chosen": {"logps": [-1]}, "rejected": {"logps": [-2]}}"#

    static func settings(metricsRequireToken: Bool = false) throws -> ServerSettings {
        var settings = ServerSettings()
        settings.bearerTokens = try #require(BearerTokens(["first-token", "second-token"]))
        settings.metricsRequireToken = metricsRequireToken
        return settings
    }

    static func postLoss(_ client: some TestClientProtocol, authorization: String?) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        headers[.authorization] = authorization
        return try await client.execute(
            uri: "/v1/loss", method: .post, headers: headers, body: ByteBuffer(string: request))
    }

    @Test func tokenFileSkipsBlankLinesCommentsAndWhitespace() throws {
        let tokens = try #require(BearerTokens(fileContents: "# trainers\n\n  alpha \r\nbeta\n"))
        #expect(tokens.count == 2)
        #expect(BearerTokens(fileContents: "# only a comment\n\n") == nil, "no token: refuse rather than open")
        #expect(BearerTokens([]) == nil)
        #expect(BearerTokens(["ok", ""]) == nil)
        #expect(BearerTokens(["tok@en"]) == nil, "not a token68: no client could send it")
    }

    @Test func everyAcceptedTokenOpensTheLossRoute() async throws {
        let settings = try Self.settings()
        try await withLiveServer(settings) { client async throws in
            #expect(try await Self.postLoss(client, authorization: "Bearer first-token").status == .ok)
            #expect(try await Self.postLoss(client, authorization: "bearer second-token").status == .ok)
        }
    }

    @Test(arguments: [
        nil, "first-token", "Basic Zmlyc3QtdG9rZW4=", "Bearer ", "Bearer first-toke", "Bearer first-tokenn",
        "Bearer First-token", "Bearer first-token second-token", "Bearer\tfirst-token", "Bearer first-token=x",
        "Bearer " + String(repeating: "a", count: 70_000),
    ])
    func anyOtherAuthorizationIs401(_ authorization: String?) async throws {
        let settings = try Self.settings()
        try await withLiveServer(settings) { client async throws in
            let response = try await Self.postLoss(client, authorization: authorization)
            try expectProblem(response, .unauthorized)
            #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="prefloss-server""#)
            #expect(!String(buffer: response.body).contains("first-token"), "a problem never echoes a token")
        }
    }

    @Test func probesStayOpenAndMetricsFollowTheSetting() async throws {
        let settings = try Self.settings()
        try await withLiveServer(settings) { client async throws in
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/ready", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .ok)
        }
        let protectedMetrics = try Self.settings(metricsRequireToken: true)
        try await withLiveServer(protectedMetrics) { client async throws in
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            try expectProblem(try await client.execute(uri: "/metrics", method: .get), .unauthorized)
            let metrics = try await client.execute(
                uri: "/metrics", method: .get, headers: [.authorization: "Bearer second-token"])
            #expect(metrics.status == .ok)
        }
    }

    @Test func aHeadOver80KiBIs431() async throws {
        let settings = try Self.settings()
        try await withLiveServer(settings) { client async throws in
            let port = try #require(client.port)
            let request =
                "POST /v1/loss HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(String(repeating: "a", count: 100_000))\r\n\r\n"
            let answer = try await rawExchange(port: port, Array(request.utf8))
            #expect(
                answer.hasPrefix("HTTP/1.1 431") && answer.contains("application/problem+json"), "\(answer.prefix(200))"
            )
            #expect(try await rawExchange(port: port, get("/health")).hasPrefix("HTTP/1.1 200"))
        }
    }

    /// However a client spells the path, a route that needs a token never answers without one.
    @Test(arguments: [
        "//v1/loss", "///v1/loss", "//v1//loss", "/v1//loss", "/./v1/loss", "/v1/./loss", "/x/../v1/loss",
        "/v1/loss/", "/%76%31/loss", "/v1/%6Coss", "/V1/loss", "/v1/loss?token=first-token", "//metrics", "/metrics/",
        "/./metrics",
    ])
    func noPathSpellingGetsPastTheToken(_ path: String) async throws {
        let settings = try Self.settings(metricsRequireToken: true)
        try await withLiveServer(settings) { client async throws in
            let method = path.contains("metrics") ? "GET" : "POST"
            let request =
                "\(method) \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(Self.request.utf8.count)\r\nConnection: close\r\n\r\n\(Self.request)"
            let answer = try await rawExchange(port: try #require(client.port), Array(request.utf8))
            #expect(
                answer.hasPrefix("HTTP/1.1 401") || answer.hasPrefix("HTTP/1.1 404"), "\(path): \(answer.prefix(40))")
        }
    }

    @Test func withoutTokensNothingIsProtected() async throws {
        try await withLiveServer { client async throws in
            #expect(try await Self.postLoss(client, authorization: nil).status == .ok)
        }
    }
}
