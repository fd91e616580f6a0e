import Hummingbird
import HummingbirdTesting
import PreferenceLossCodec
import Testing

@testable import PreferenceLossServer

/// Every error class is a problem+json with a status, a type, a title and a detail.
@Suite struct ErrorResponseTests {
    @Test func unknownPathIs404() async throws {
        try await withLiveServer { client in
            try await expectProblem(try await client.execute(uri: "/v2/loss", method: .get), .notFound)
        }
    }

    @Test func wrongMethodIs405WithAllow() async throws {
        try await withLiveServer { client in
            let response = try await client.execute(uri: "/v1/loss", method: .get)
            try expectProblem(response, .methodNotAllowed)
            #expect(response.headers[.allow] == "POST")
            let health = try await client.execute(uri: "/health", method: .delete)
            try expectProblem(health, .methodNotAllowed)
            #expect(health.headers[.allow] == "GET, HEAD")
            for path in ["/metrics", "/openapi.yaml"] {
                let answer = try await client.execute(uri: path, method: .post)
                try expectProblem(answer, .methodNotAllowed)
                #expect(answer.headers[.allow] == "GET, HEAD", "\(path)")
            }
        }
    }

    @Test(arguments: ["text/plain", "application/x-www-form-urlencoded", "application/jsonx"])
    func wrongContentTypeIs415(_ contentType: String) async throws {
        try await withLiveServer { client in
            try expectProblem(try await postLoss(client, "{}", contentType: contentType), .unsupportedMediaType)
        }
    }

    @Test func jsonWithParametersIsAccepted() async throws {
        try await withLiveServer { client in
            let response = try await postLoss(
                client, #"{"chosen": {"logps": [-1]}, "rejected": {"logps": [-2]}}"#,
                contentType: "Application/JSON; charset=utf-8")
            #expect(response.status == .ok)
        }
    }

    @Test(arguments: [
        (#"{"chosen": "#, 11, "unexpected end of document"),
        (#"{"chosen": {"logps": [NaN]}}"#, 22, "unexpected character 'N'"),
        (#"{"chosen": {"logps": [1e400]}}"#, 22, "number outside the double range"),
        ("", 0, "empty document"),
    ])
    func malformedJSONIs400WithTheByteOffset(_ body: String, _ offset: Int, _ reason: String) async throws {
        try await withLiveServer { client in
            let problem = try expectProblem(try await postLoss(client, body), .badRequest)
            #expect(problem["offset"] as? Int == offset)
            #expect((problem["detail"] as? String)?.contains(reason) == true)
        }
    }

    @Test(arguments: [
        (
            #"{"chosen": {"per_token_logps": [[-1], [-1], [-1], [-1]], "mask": [[1], [1], [1], [0]]}, "rejected": {"logps": [-1, -1, -1, -1]}}"#,
            ["/chosen/mask/3"]
        ),
        (
            #"{"chosen": {"per_token_logps": [[-1, "x"]]}, "rejected": {"logps": [-1]}}"#,
            ["/chosen/per_token_logps/0/1"]
        ),
        (#"{"chosen": {"logps": [-1]}, "rejected": {"logps": [-1, -2]}}"#, ["/rejected/logps"]),
        (#"{"chosen": {"logps": [-1]}}"#, ["/rejected"]),
        (#"{"chosen": {"logps": [-1]}, "rejected": {"logps": [-1]}, "chosenn": 1}"#, ["/chosenn"]),
        (#"{"chosen": {"logps": [-1], "mask": [[1]]}, "rejected": {"logps": [-1]}}"#, ["/chosen/mask"]),
        (
            #"{"chosen": {"per_token_logps": [[-1]], "mask": [[1]], "labels": [[1]]}, "rejected": {"logps": [-1]}}"#,
            ["/chosen/labels"]
        ),
        (
            #"{"chosen": {"per_token_logps": [[-1]], "labels": [[1.5]]}, "rejected": {"logps": [-1]}}"#,
            ["/chosen/labels/0/0"]
        ),
        (
            #"{"config": {"beta": -1, "loss": "x"}, "chosen": {"logps": [-1]}, "rejected": {"logps": [-1]}}"#,
            ["/config/loss", "/config/beta"]
        ),
        (
            #"{"config": {"objective": "dpo"}, "chosen": {"logps": [-1]}, "rejected": {"logps": [-1]}}"#,
            ["/reference_chosen", "/reference_rejected"]
        ),
        (#"{"chosen": {"logps": []}, "rejected": {"logps": []}}"#, ["/chosen/logps"]),
        (#"{"chosen": {"logps": [-1]}, "rejected": {"logps": [-1]}, "chosen": {"logps": [-2]}}"#, ["/chosen"]),
        (#"[1, 2]"#, [""]),
    ])
    func invalidContentIs422NamingTheField(_ body: String, _ expected: [String]) async throws {
        try await withLiveServer { client in
            let response = try await postLoss(client, body)
            try expectProblem(response, .unprocessableContent)
            #expect(try pointers(response) == expected)
        }
    }

    /// Decoding (the body's structure and types, and the whole config) comes first; the loss checks
    /// the batch's content only once decoding found nothing (README, openapi.yaml's InvalidInput).
    @Test func decodingProblemsComeBeforeTheBatchsContent() async throws {
        let batch = #""rejected": {"logps": [-1, -2]}, "reference_chosen": {"logps": [-1]}"#
        try await withLiveServer { client in
            let decoding = try await postLoss(
                client, #"{"config": {"beta": -1}, "chosen": {"logps": ["x"]}, \#(batch)}"#)
            #expect(try pointers(decoding) == ["/config/beta", "/chosen/logps/0"])
            let content = try await postLoss(client, #"{"chosen": {"logps": [-1]}, \#(batch)}"#)
            #expect(try pointers(content) == ["/reference_chosen", "/rejected/logps"])
        }
    }

    @Test func unknownKeysSuggestTheClosest() async throws {
        try await withLiveServer { client in
            let response = try await postLoss(
                client, #"{"config": {"simpo_gamma": 0.5}, "chosen": {"logps": [-1]}, "rejected": {"logps": [-1]}}"#)
            let problem = try expectProblem(response, .unprocessableContent)
            #expect((problem["detail"] as? String)?.contains("did you mean 'gamma'?") == true)
        }
    }

    @Test func bodiesOverTheLimitAre413() async throws {
        var settings = ServerSettings()
        settings.maximumBodySize = 1024
        try await withLiveServer(settings) { client in
            let declared = try await postLoss(client, String(repeating: " ", count: 2000) + "{}")
            try expectProblem(declared, .contentTooLarge)
            #expect(declared.headers[.connection] == "close", "the rest of the body is not read: the connection ends")
            // A chunked body has no declared length: the limit applies while it is read.
            let port = try #require(client.port)
            let chunk = String(repeating: " ", count: 1500)
            let request =
                "POST /v1/loss HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                + String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n0\r\n\r\n"
            let answer = try await rawExchange(port: port, Array(request.utf8))
            #expect(answer.hasPrefix("HTTP/1.1 413"))
            #expect(answer.contains("application/problem+json"))
            // The server is still healthy afterwards (on a new connection: the client's own was closed).
            #expect(try await rawExchange(port: port, get("/health")).hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func overflowIs422NotNaN() async throws {
        try await withLiveServer { client in
            let response = try await postLoss(
                client, #"{"chosen": {"logps": [1.5e308]}, "rejected": {"logps": [-1.5e308]}}"#)
            try expectProblem(response, .unprocessableContent)
            #expect(try pointers(response) == ["/chosen/logps/0"])
        }
    }
}

@Suite struct MaskFormTests {
    @Test(arguments: [
        (#"[[1, true, 0]]"#, 200, [String]()),
        (#"[[true, 2]]"#, 422, ["/chosen/mask/0/1"]),
        (#"[[0, 1, -1]]"#, 422, ["/chosen/mask/0/2"]),
        (#"[[1, 0.5, 1]]"#, 422, ["/chosen/mask/0/1"]),
        (#"[[1, 1, "1"]]"#, 422, ["/chosen/mask/0/2"]),
        (#"[1]"#, 422, ["/chosen/mask/0"]),
    ])
    func masksAcceptBooleansAndZeroOneOnly(_ mask: String, _ status: Int, _ expected: [String]) async throws {
        try await withLiveServer { client in
            let response = try await postLoss(
                client,
                #"{"chosen": {"per_token_logps": [[-1, -2, -3]], "mask": \#(mask)}, "rejected": {"logps": [-4]}}"#)
            #expect(Int(response.status.code) == status)
            if status != 200 { #expect(try pointers(response) == expected) }
        }
    }
}

@Suite struct ClientTextTests {
    @Test func echoesEscapeControlCharactersAndStopAtTheLimit() {
        #expect(echo("a\nb\u{1B}[2J\u{7F}\u{85}é") == #"a\u{a}b\u{1b}[2J\u{7f}\u{85}é"#)
        #expect(echo(String(repeating: "é", count: 100), maximumBytes: 9) == "éééé…")
        #expect(echo("short") == "short")
    }
}
