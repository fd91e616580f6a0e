import CoreMetrics
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PreferenceLoss
import Prometheus
import Testing

@testable import PreferenceLossServer

/// `X-Run-Id`: the bounded per-run history, its trend warnings and its Prometheus series.
@Suite struct RunHistoryTests {
    static let runHeader = HTTPField.Name("X-Run-Id")!

    private func batch(_ step: Int) -> BatchSummary {
        BatchSummary(
            loss: 1 / Double(step + 1), margin: Double(step), accuracy: 1, chosenLogp: -Double(step), rejectedLogp: -9,
            chosenReward: 0, rejectedReward: -1)
    }

    private func history(
        runs: Int = 2, batches: Int = 3, idle: Duration = .seconds(60)
    ) -> (RunHistory, PrometheusCollectorRegistry) {
        let registry = PrometheusCollectorRegistry()
        return (
            RunHistory(
                maximumRuns: runs, stepsPerRun: batches, idleExpiry: idle,
                factory: PrometheusMetricsFactory(registry: registry)), registry
        )
    }

    /// The runs whose series `/metrics` shows.
    private func runsShown(_ registry: PrometheusCollectorRegistry) -> Set<String> {
        let prefix = #"prefloss_run_steps_total{run=""#
        return Set(
            scrape(registry).split(separator: "\n").compactMap { line in
                line.hasPrefix(prefix) ? String(line.dropFirst(prefix.count).prefix { $0 != "\"" }) : nil
            })
    }

    @Test func trendsSeeOnlyTheLastBatchesOfARun() {
        let (runs, _) = history(batches: 3)
        // Only the loss moves: it is stuck once the first batch has left the window of 3.
        let codes = [9.0, 1, 1, 1].map { loss in
            let batch = BatchSummary(
                loss: loss, margin: 1, accuracy: 1, chosenLogp: -1, rejectedLogp: -2, chosenReward: 0,
                rejectedReward: -1)
            return runs.record(batch, run: "a", batchWarnings: [], thresholds: DiagnosticThresholds()).map(\.code)
        }
        #expect(codes == [[], [], [], ["loss_stuck"]])
    }

    @Test func trendsNeedAFullWindow() {
        let (runs, _) = history(batches: 3)
        #expect(runs.record(batch(0), run: "a", batchWarnings: [], thresholds: DiagnosticThresholds()).isEmpty)
        #expect(runs.record(batch(1), run: "a", batchWarnings: [], thresholds: DiagnosticThresholds()).isEmpty)
        #expect(
            runs.record(batch(2), run: "a", batchWarnings: [], thresholds: DiagnosticThresholds()).map(\.code) == [
                "chosen_logps_falling"
            ])
        #expect(
            runs.record(batch(3), run: "b", batchWarnings: [], thresholds: DiagnosticThresholds()).isEmpty,
            "runs are separate")
    }

    @Test func theLeastRecentlySeenRunIsDroppedWithItsSeries() {
        let (runs, registry) = history(runs: 2)
        let start = ContinuousClock.now
        let warning = LossWarning(code: "no_effect", message: "")
        _ = runs.record(batch(0), run: "old", batchWarnings: [warning], thresholds: DiagnosticThresholds(), now: start)
        _ = runs.record(
            batch(0), run: "newer", batchWarnings: [warning], thresholds: DiagnosticThresholds(),
            now: start + .seconds(1))
        _ = runs.record(
            batch(1), run: "old", batchWarnings: [], thresholds: DiagnosticThresholds(), now: start + .seconds(2))
        #expect(scrape(registry).contains(#"prefloss_run_warnings_total{run="old",code="no_effect"} 1"#))
        _ = runs.record(
            batch(0), run: "third", batchWarnings: [], thresholds: DiagnosticThresholds(), now: start + .seconds(3))
        #expect(runsShown(registry) == ["old", "third"], "'newer' was seen least recently")
        let text = scrape(registry)
        #expect(!text.contains(#"run="newer""#))
        #expect(text.contains(#"prefloss_run_loss{run="third",phase="train"}"#))
        #expect(text.contains("prefloss_runs_tracked 2"))
    }

    @Test func idleRunsExpire() {
        let (runs, registry) = history(runs: 10, idle: .seconds(60))
        let start = ContinuousClock.now
        _ = runs.record(batch(0), run: "idle", batchWarnings: [], thresholds: DiagnosticThresholds(), now: start)
        _ = runs.record(
            batch(0), run: "busy", batchWarnings: [], thresholds: DiagnosticThresholds(), now: start + .seconds(59))
        #expect(runsShown(registry) == ["idle", "busy"])
        _ = runs.record(
            batch(1), run: "busy", batchWarnings: [], thresholds: DiagnosticThresholds(), now: start + .seconds(61))
        #expect(runsShown(registry) == ["busy"])
        #expect(!scrape(registry).contains(#"run="idle""#), "no series of the run is left")
    }

    /// A SimPO batch whose chosen log-prob falls by 0.1 per step while the margin grows.
    private func drifting(_ step: Int) -> String {
        let chosen = -1 - 0.1 * Double(step), rejected = -2 - 0.3 * Double(step)
        return #"{"chosen":{"logps":[\#(chosen),\#(chosen)]},"rejected":{"logps":[\#(rejected),\#(rejected)]}}"#
    }

    @Test func aRunGetsTrendWarningsAndItsSeries() async throws {
        var settings = ServerSettings()
        settings.batchesPerRun = 4
        try await withLiveServer(settings) { client in
            var codes: [[String]] = []
            for step in 0 ..< 4 {
                let response = try await client.execute(
                    uri: "/v1/loss", method: .post,
                    headers: [.contentType: "application/json", Self.runHeader: "team/dpo-7"],
                    body: ByteBuffer(string: drifting(step)))
                #expect(response.status == .ok)
                let warnings = try #require(try jsonObject(response)["warnings"] as? [[String: Any]])
                codes.append(
                    warnings.compactMap { $0["code"] as? String }.filter {
                        ["chosen_logps_falling", "rewards_collapse", "loss_stuck"].contains($0)
                    })
            }
            #expect(codes == [[], [], [], ["chosen_logps_falling", "rewards_collapse"]])
            let anonymous = try await postLoss(client, drifting(9))
            let anonymousCodes = try #require(try jsonObject(anonymous)["warnings"] as? [[String: Any]]).compactMap {
                $0["code"] as? String
            }
            #expect(!anonymousCodes.contains("chosen_logps_falling"), "no run id, no history")
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            for name in [
                "prefloss_run_loss", "prefloss_run_rewards_margins", "prefloss_run_rewards_accuracies",
                "prefloss_run_logps_chosen", "prefloss_run_logps_rejected",
            ] {
                #expect(metrics.contains(#"\#(name){run="team/dpo-7",phase="train"}"#), "\(name)")
            }
            #expect(metrics.contains(#"prefloss_run_steps_total{run="team/dpo-7",phase="train"} 4"#))
            #expect(!metrics.contains("prefloss_run_step{"), "requests without X-Run-Step have no step number")
            #expect(metrics.contains(#"prefloss_run_warnings_total{run="team/dpo-7",code="chosen_logps_falling"} 1"#))
            #expect(metrics.contains(#"prefloss_warnings_total{code="chosen_logps_falling"} 1"#))
        }
    }

    @Test func aMalformedRunIDIs400() async throws {
        try await withLiveServer { client in
            for bad in ["", "has space", String(repeating: "r", count: 65), "run\u{e9}"] {
                let response = try await client.execute(
                    uri: "/v1/loss", method: .post, headers: [.contentType: "application/json", Self.runHeader: bad],
                    body: ByteBuffer(string: drifting(0)))
                #expect(response.status == .badRequest, "\(bad)")
                #expect(try jsonObject(response)["header"] as? String == "X-Run-Id")
            }
            var twice: HTTPFields = [.contentType: "application/json"]
            twice.append(HTTPField(name: Self.runHeader, value: "a"))
            twice.append(HTTPField(name: Self.runHeader, value: "b"))
            let repeated = try await client.execute(
                uri: "/v1/loss", method: .post, headers: twice, body: ByteBuffer(string: drifting(0)))
            #expect(repeated.status == .badRequest)
            #expect((try jsonObject(repeated)["detail"] as? String)?.contains("not several") == true)
            let longest = try await client.execute(
                uri: "/v1/loss", method: .post,
                headers: [.contentType: "application/json", Self.runHeader: String(repeating: "r", count: 64)],
                body: ByteBuffer(string: drifting(0)))
            #expect(longest.status == .ok)
        }
    }

    @Test(arguments: [
        (["X-Run-Step": "-1"], "X-Run-Step"), (["X-Run-Step": "1000000000000000"], "X-Run-Step"),
        (["X-Run-Step": "1 2"], "X-Run-Step"), (["X-Run-Step": "1", "X-Run-Part": "2/2 0/4"], "X-Run-Part"),
        (["X-Run-Step": "1", "X-Run-Part": "1/2  0/4"], "X-Run-Part"),
        (["X-Run-Step": "1", "X-Run-Part": "0/65537 0/1"], "X-Run-Part"),
        (["X-Run-Step": "1", "X-Run-Phase": "Train"], "X-Run-Phase"), (["X-Run-Part": "0/1 0/1"], "X-Run-Part"),
        (["X-Run-Phase": "eval"], "X-Run-Phase"),
    ])
    func aMalformedOrOrphanedStepHeaderIs400NamingIt(_ sent: [String: String], header: String) async throws {
        try await withLiveServer { client in
            for withRun in [true, false] {
                var headers: HTTPFields = [.contentType: "application/json"]
                if withRun { headers[Self.runHeader] = "r" }
                for (name, value) in sent { headers[try #require(HTTPField.Name(name))] = value }
                let response = try await client.execute(
                    uri: "/v1/loss", method: .post, headers: headers, body: ByteBuffer(string: drifting(0)))
                #expect(response.status == .badRequest, "\(sent)")
                let problem = try jsonObject(response)
                #expect(problem["type"] as? String == "urn:prefloss:problem:malformed-header")
                #expect(problem["header"] as? String == header, "\(sent) \(withRun)")
            }
        }
    }

    @Test func aStepHeaderNeedsWhatItIsPartOf() async throws {
        try await withLiveServer { client in
            let cases: [([HTTPField.Name: String], String, String)] = [
                ([LossRequestHeaders.runStepHeader: "7"], "X-Run-Step", "needs X-Run-Id"),
                ([Self.runHeader: "r", LossRequestHeaders.runPartHeader: "0/1 0/1"], "X-Run-Part", "needs X-Run-Step"),
                ([Self.runHeader: "r", LossRequestHeaders.runPhaseHeader: "eval"], "X-Run-Phase", "needs X-Run-Step"),
            ]
            for (sent, header, detail) in cases {
                var headers: HTTPFields = [.contentType: "application/json"]
                for (name, value) in sent { headers[name] = value }
                let response = try await client.execute(
                    uri: "/v1/loss", method: .post, headers: headers, body: ByteBuffer(string: drifting(0)))
                #expect(response.status == .badRequest, "\(sent)")
                let problem = try jsonObject(response)
                #expect(problem["header"] as? String == header)
                #expect((problem["detail"] as? String)?.contains(detail) == true, "\(problem)")
            }
        }
    }

    @Test func stepHeadersAreOneLineEach() async throws {
        try await withLiveServer { client in
            for name in [LossRequestHeaders.runStepHeader, LossRequestHeaders.runPartHeader] {
                var headers: HTTPFields = [
                    .contentType: "application/json", Self.runHeader: "r", LossRequestHeaders.runStepHeader: "1",
                ]
                headers.append(HTTPField(name: name, value: name == LossRequestHeaders.runStepHeader ? "2" : "0/1 0/1"))
                headers.append(HTTPField(name: name, value: "0/1 0/1"))
                let response = try await client.execute(
                    uri: "/v1/loss", method: .post, headers: headers, body: ByteBuffer(string: drifting(0)))
                #expect(response.status == .badRequest)
                #expect(try jsonObject(response)["header"] as? String == name.rawName)
                #expect((try jsonObject(response)["detail"] as? String)?.contains("not several") == true)
            }
        }
    }

    /// Pairs `range` of step `s` of a run whose chosen log-prob rises for 4 steps, then falls
    /// while the margin grows; pairs differ.
    private func pairs(step s: Int, _ range: Range<Int>) -> String {
        let chosen = range.map { j in
            (s < 4 ? 0.1 * Double(s) : 0.4 - 0.15 * Double(s - 4)) - 1 + 0.2 * Double(j % 3 - 1)
        }
        let rejected = zip(range, chosen).map { j, c in c - 0.5 - 0.2 * Double(s) - 0.1 * Double(j) }
        return #"{"chosen":{"logps":\#(chosen)},"rejected":{"logps":\#(rejected)}}"#
    }

    @Test func aRunSplitOverRanksWarnsAtTheStepOneRequestWould() async throws {
        var settings = ServerSettings()
        settings.batchesPerRun = 4
        try await withLiveServer(settings) { client in
            func trendCodes(_ body: String, _ run: String, _ fields: [(String, String)]) async throws -> [String] {
                var headers: HTTPFields = [.contentType: "application/json", Self.runHeader: run]
                for (name, value) in fields { headers[try #require(HTTPField.Name(name))] = value }
                let response = try await client.execute(
                    uri: "/v1/loss", method: .post, headers: headers, body: ByteBuffer(string: body))
                #expect(response.status == .ok)
                let warnings = try #require(try jsonObject(response)["warnings"] as? [[String: Any]])
                return warnings.compactMap { $0["code"] as? String }.filter {
                    ["chosen_logps_falling", "rewards_collapse", "loss_stuck"].contains($0)
                }
            }
            // Out of order, and unequal in pairs.
            let parts = [("1/2 1/2", 4 ..< 6), ("0/2 0/2", 0 ..< 1), ("1/2 0/2", 3 ..< 4), ("0/2 1/2", 1 ..< 3)]
            var whole: [[String]] = [], split: [[String]] = []
            for s in 0 ..< 10 {
                whole.append(try await trendCodes(pairs(step: s, 0 ..< 6), "whole", [("X-Run-Step", "\(s)")]))
                var codes: [[String]] = []
                for (part, range) in parts {
                    codes.append(
                        try await trendCodes(
                            pairs(step: s, range), "split",
                            [("X-Run-Step", "\(s)"), ("X-Run-Part", part), ("X-Run-Phase", "train")]))
                }
                #expect(codes.dropLast().allSatisfy { $0.isEmpty })
                split.append(codes.last ?? [])
            }
            #expect(whole.contains { $0.contains("chosen_logps_falling") })
            #expect(split == whole)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"prefloss_run_steps_total{run="split",phase="train"} 10"#))
            #expect(metrics.contains(#"prefloss_run_step{run="split",phase="train"} 9"#))
        }
    }

    @Test func everyResponseSaysWhatWasApplied() async throws {
        try await withLiveServer { client in
            let response = try await postLoss(
                client, #"{"chosen":{"logps":[-1]},"rejected":{"logps":[-2]},"config":{"beta":2.5,"gamma":0.5}}"#)
            let config = try #require(try jsonObject(response)["config"] as? [String: Any])
            #expect(config["objective"] as? String == "simpo")
            #expect(config["gamma"] as? Double == 0.5 && config["gamma_beta_ratio"] as? Double == 0.2)
            #expect(config["averaging"] as? String == "mean" && config["sft_reduction"] as? String == "sequence")
            #expect(config["length_imbalance_ratio"] as? Double == 2 && config["bf16_min_tokens"] as? Int == 64)
        }
    }
}
