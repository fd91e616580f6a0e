import Hummingbird
import HummingbirdTesting
import SimPOServer
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
        return try await client.execute(uri: "/v1/loss", method: .post, headers: headers, body: ByteBuffer(string: request))
    }

    @Test func tokenFileSkipsBlankLinesCommentsAndWhitespace() throws {
        let tokens = try #require(BearerTokens(fileContents: "# trainers\n\n  alpha \r\nbeta\n"))
        #expect(tokens.count == 2)
        #expect(BearerTokens(fileContents: "# only a comment\n\n") == nil, "no token: refuse rather than open")
        #expect(BearerTokens([]) == nil)
        #expect(BearerTokens(["ok", ""]) == nil)
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
        "Bearer First-token", "Bearer first-token second-token",
    ])
    func anyOtherAuthorizationIs401(_ authorization: String?) async throws {
        let settings = try Self.settings()
        try await withLiveServer(settings) { client async throws in
            let response = try await Self.postLoss(client, authorization: authorization)
            try expectProblem(response, .unauthorized)
            #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="simpo-server""#)
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
            let metrics = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer second-token"])
            #expect(metrics.status == .ok)
        }
    }

    @Test func withoutTokensNothingIsProtected() async throws {
        try await withLiveServer { client async throws in
            #expect(try await Self.postLoss(client, authorization: nil).status == .ok)
        }
    }
}
