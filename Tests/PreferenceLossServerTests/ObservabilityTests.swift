import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import Synchronization
import Testing

@testable import PreferenceLossServer

/// Keeps every log record, rendered as `message key=value ...`.
final class CapturedLogs: Sendable {
    let lines = Mutex<[String]>([])

    func handler(label: String) -> some LogHandler { Handler(logs: self) }

    struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let line = ([event.message.description] + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })
                .joined(separator: " ")
            logs.lines.withLock { $0.append(line) }
        }
    }
}

@Suite struct ObservabilityTests {
    static let header = HTTPField.Name("X-Request-Id")!

    @Test func requestIDsAreEchoedOrMadeAndLogged() async throws {
        let logs = CapturedLogs()
        let logger = Logger(label: "test") { logs.handler(label: $0) }
        let service = try LossService(
            settings: ServerSettings(), registry: PrometheusCollectorRegistry(), logger: logger)
        try await service.application.test(.live) { client in
            let given = try await client.execute(
                uri: "/v1/loss", method: .post,
                headers: [Self.header: "trainer-7.step-42", .contentType: "application/json"],
                body: ByteBuffer(string: "{"))
            #expect(given.headers[Self.header] == "trainer-7.step-42")
            let hostile = try await client.execute(
                uri: "/health", method: .get, headers: [Self.header: "no spaces or \"quotes\" please"])
            let made = try #require(hostile.headers[Self.header])
            #expect(made.count == 32 && made.allSatisfy(\.isHexDigit), "an implausible id is replaced")
            let fresh = try await client.execute(uri: "/health", method: .get)
            #expect(fresh.headers[Self.header]?.count == 32 && fresh.headers[Self.header] != made)
        }
        let problemLines = logs.lines.withLock { $0 }.filter { $0.hasPrefix("problem ") }
        #expect(problemLines.count == 1)
        #expect(problemLines.first?.contains("request_id=trainer-7.step-42") == true)
        #expect(problemLines.first?.contains("type=malformed-json") == true)
    }

    @Test func everyMetricFamilyHasHelpAndType() async throws {
        try await withLiveServer { client async throws in
            // A run's batch with a warning (a margin under 0.5), and a problem: every family has a series.
            let headers: HTTPFields = [.contentType: "application/json", LossRequestHeaders.runIDHeader: "run-1"]
            let body = ByteBuffer(string: #"{"chosen": {"logps": [-1]}, "rejected": {"logps": [-1.1]}}"#)
            _ = try await client.execute(uri: "/v1/loss", method: .post, headers: headers, body: body)
            // A step of two parts, the first sent twice (a part ignored).
            for part in ["0/1 0/2", "0/1 0/2", "0/1 1/2"] {
                var stepped = headers
                stepped[LossRequestHeaders.runStepHeader] = "3"
                stepped[LossRequestHeaders.runPartHeader] = part
                _ = try await client.execute(uri: "/v1/loss", method: .post, headers: stepped, body: body)
            }
            _ = try await postLoss(client, "{")
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            let lines = metrics.split(separator: "\n")
            func described(_ kind: String) -> Set<String> {
                Set(
                    lines.compactMap { line in
                        line.hasPrefix("# \(kind) ")
                            ? line.split(separator: " ").dropFirst(2).first.map(String.init) : nil
                    })
            }
            let typed = described("TYPE")
            let helped = described("HELP")
            let families = Set(
                lines.filter { !$0.hasPrefix("#") }.compactMap { line -> String? in
                    let name = String(line.prefix { $0 != "{" && $0 != " " })
                    guard !typed.contains(name) else { return name }
                    let suffix = ["_bucket", "_sum", "_count"].first { name.hasSuffix($0) }
                    return suffix.map { String(name.dropLast($0.count)) }
                })
            #expect(families == Set(MetricFamily.allCases.map(\.rawValue)))
            #expect(families.subtracting(typed).isEmpty, "without # TYPE: \(families.subtracting(typed).sorted())")
            #expect(families.subtracting(helped).isEmpty, "without # HELP: \(families.subtracting(helped).sorted())")
        }
    }

    @Test func problemsAreCountedByType() async throws {
        try await withLiveServer { client async throws in
            _ = try await postLoss(client, "{")
            _ = try await postLoss(client, "[1")
            _ = try await postLoss(client, #"{"chosen": {}}"#)
            _ = try await postLoss(client, "{}", contentType: "text/plain")
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"prefloss_http_problems_total{type="malformed-json"} 2"#))
            #expect(metrics.contains(#"prefloss_http_problems_total{type="invalid-input"} 1"#))
            #expect(metrics.contains(#"prefloss_http_problems_total{type="unsupported-media-type"} 1"#))
        }
    }
}
