import Foundation
import HeaderGrammar
import PreferenceLoss
import Prometheus
import Testing

@testable import PreferenceLossServer

/// `X-Run-Step`, `X-Run-Part` and `X-Run-Phase` in the run history: parts combine into steps,
/// the trends run over closed train steps, and everything stays bounded.
@Suite struct RunStepsTests {
    static let beta = 2.0
    /// Pairs per step, and how each step is split over 2 ranks × 2 micro-batches: (part, pairs).
    static let pairsPerStep = 10
    static let split = [("0/2 0/2", 0 ..< 1), ("0/2 1/2", 1 ..< 3), ("1/2 0/2", 3 ..< 6), ("1/2 1/2", 6 ..< 10)]

    /// Pair `j` of step `s` of a run whose chosen log-prob rises for 6 steps, then falls while
    /// the margin keeps growing; pairs differ, so that weighting parts by pairs matters.
    static func pair(step s: Int, _ j: Int) -> (chosen: Double, margin: Double) {
        let chosen = (s < 6 ? 0.1 * Double(s) : 0.6 - 0.15 * Double(s - 6)) - 1 + 0.4 * Double(j % 3 - 1)
        return (chosen, 0.5 + 0.2 * Double(s) + 0.3 * Double(j))
    }

    /// The means over `pairs` of step `s`, as a SimPO-like loss would give them.
    static func summary(step s: Int, _ pairs: Range<Int>) -> BatchSummary {
        let values = pairs.map { pair(step: s, $0) }
        func mean(_ value: ((chosen: Double, margin: Double)) -> Double) -> Double {
            values.map(value).reduce(0, +) / Double(values.count)
        }
        return BatchSummary(
            loss: mean { log(1 + exp(-beta * $0.margin)) }, margin: mean { beta * $0.margin }, accuracy: 1,
            chosenLogp: mean(\.chosen), rejectedLogp: mean { $0.chosen - $0.margin },
            chosenReward: mean { beta * $0.chosen }, rejectedReward: mean { beta * ($0.chosen - $0.margin) })
    }

    static func history(runs: Int = 4, steps: Int = 4) -> (RunHistory, PrometheusCollectorRegistry) {
        let registry = PrometheusCollectorRegistry()
        return (
            RunHistory(
                maximumRuns: runs, stepsPerRun: steps, idleExpiry: .seconds(3600),
                factory: DescribedMetricsFactory(base: PrometheusMetricsFactory(registry: registry))),
            registry
        )
    }

    static func position(_ step: Int, _ part: String = "0/1 0/1", _ phase: RunPhase = .train) throws -> RunPosition {
        RunPosition(step: step, part: try RunPart(parsing: part), phase: phase)
    }

    static func codes(_ warnings: [LossWarning]) -> [String] { warnings.map(\.code) }

    /// Step `s` sent as 4 parts in an order that changes with the step; the trend codes each
    /// response got.
    static func sendSplit(
        _ runs: RunHistory, run: String, step s: Int, now: ContinuousClock.Instant = .now
    ) throws -> [[String]] {
        let order = (0 ..< split.count).map { split[($0 * 3 + s) % split.count] }
        return try order.map { part, pairs in
            codes(
                runs.record(
                    summary(step: s, pairs), rows: .paired(pairs.count), run: run, at: try position(s, part),
                    batchWarnings: [], thresholds: DiagnosticThresholds(), now: now))
        }
    }

    @Test func aSplitRunWarnsAtTheSameStepAsOneRequestPerStep() throws {
        let (runs, _) = Self.history(steps: 4)
        let whole = Self.pairsPerStep
        var wholeCodes: [[String]] = [], legacyCodes: [[String]] = [], splitCodes: [[String]] = []
        for s in 0 ..< 12 {
            wholeCodes.append(
                Self.codes(
                    runs.record(
                        Self.summary(step: s, 0 ..< whole), rows: .paired(whole), run: "whole",
                        at: try Self.position(s),
                        batchWarnings: [], thresholds: DiagnosticThresholds())))
            legacyCodes.append(
                Self.codes(
                    runs.record(
                        Self.summary(step: s, 0 ..< whole), run: "legacy", batchWarnings: [],
                        thresholds: DiagnosticThresholds())))
            let parts = try Self.sendSplit(runs, run: "split", step: s)
            #expect(parts.dropLast().allSatisfy { $0.isEmpty }, "only the part that closes the step gets the trend")
            splitCodes.append(parts.last ?? [])
        }
        #expect(wholeCodes.contains { $0.contains("chosen_logps_falling") })
        #expect(wholeCodes.prefix(8).allSatisfy { !$0.contains("chosen_logps_falling") }, "not while it rises")
        #expect(splitCodes == wholeCodes)
        #expect(legacyCodes == wholeCodes)
        let split = try #require(runs.run("split")?.window), one = try #require(runs.run("whole")?.window)
        #expect(split.count == 4)
        for (a, b) in zip(split, one) {
            for value in [\BatchSummary.loss, \.margin, \.chosenLogp, \.rejectedLogp, \.chosenReward, \.rejectedReward]
            {
                #expect(abs(a[keyPath: value] - b[keyPath: value]) <= 1e-12, "parts weighted by their pairs")
            }
        }
    }

    @Test func theHistoryCountsStepsNotRequests() throws {
        let (runs, registry) = Self.history()
        for s in 0 ..< 3 { _ = try Self.sendSplit(runs, run: "r", step: s) }
        #expect(runs.run("r")?.window.count == 3)
        let text = scrape(registry)
        #expect(text.contains(#"prefloss_run_steps_total{run="r",phase="train"} 3"#))
        #expect(text.contains(#"prefloss_run_step{run="r",phase="train"} 2"#))
        #expect(!text.contains(#"phase="eval""#))
    }

    @Test func evalPartsStayOutOfTheTrend() throws {
        let (runs, registry) = Self.history(steps: 4)
        var plain: [[String]] = [], mixed: [[String]] = []
        for s in 0 ..< 12 {
            plain += try Self.sendSplit(runs, run: "plain", step: s)
            // Eval parts, whose loss never moves (loss_stuck, were they trended), around the train parts.
            let stuck = BatchSummary(
                loss: 1, margin: 1, accuracy: 1, chosenLogp: -1, rejectedLogp: -2, chosenReward: 0, rejectedReward: -1)
            for (rank, micro) in [(0, 0), (1, 0)] {
                mixed.append(
                    Self.codes(
                        runs.record(
                            stuck, rows: .paired(3), run: "mixed",
                            at: try Self.position(s, "\(rank)/2 \(micro)/1", .eval),
                            batchWarnings: [], thresholds: DiagnosticThresholds())))
                if rank == 0 { mixed += try Self.sendSplit(runs, run: "mixed", step: s) }
            }
        }
        #expect(plain.contains { $0.contains("chosen_logps_falling") })
        #expect(mixed.filter { !$0.isEmpty } == plain.filter { !$0.isEmpty })
        #expect(runs.run("mixed")?.window == runs.run("plain")?.window)
        let text = scrape(registry)
        #expect(text.contains(#"prefloss_run_steps_total{run="mixed",phase="eval"} 12"#))
        #expect(text.contains(#"prefloss_run_steps_total{run="mixed",phase="train"} 12"#))
        #expect(text.contains(#"prefloss_run_loss{run="mixed",phase="eval"} 1"#))
    }

    @Test func aRankThatStopsSendingHoldsNoStepOpen() throws {
        let (runs, registry) = Self.history()
        let start = ContinuousClock.now
        let batch = Self.summary(step: 0, 0 ..< 2)
        func send(_ s: Int, _ part: String, _ phase: RunPhase = .train, at now: ContinuousClock.Instant) throws {
            _ = runs.record(
                batch, rows: .paired(2), run: "r", at: try Self.position(s, part, phase), batchWarnings: [],
                thresholds: DiagnosticThresholds(), now: now)
        }
        // Rank 1 sends nothing: each step waits, until one 4 newer comes.
        for s in 0 ..< 4 { try send(s, "0/2 0/1", at: start) }
        #expect(runs.run("r")?.train.open.map(\.step) == [0, 1, 2, 3])
        try send(4, "0/2 0/1", at: start)
        #expect(runs.run("r")?.train.open.map(\.step) == [1, 2, 3, 4])
        #expect(runs.run("r")?.train.lastClosed == 0)
        #expect(scrape(registry).contains(#"prefloss_run_steps_total{run="r",phase="train"} 1"#))
        // Or until no part of it has come for the timeout, at the run's next request (of any phase).
        try send(0, "0/1 0/2", .eval, at: start + PhaseSteps.idleTimeout - .seconds(1))
        #expect(runs.run("r")?.train.open.count == 4)
        try send(0, "0/1 1/2", .eval, at: start + PhaseSteps.idleTimeout)
        #expect(runs.run("r")?.train.open.isEmpty == true)
        #expect(runs.run("r")?.train.lastClosed == 4)
        #expect(runs.run("r")?.eval.lastClosed == 0, "the eval step had both its parts")
        #expect(scrape(registry).contains(#"prefloss_run_steps_total{run="r",phase="train"} 5"#))
    }

    @Test func aStepClosedByAgeGivesTheTrendToTheNextRequest() throws {
        let (runs, _) = Self.history(steps: 3)
        let start = ContinuousClock.now
        let stuck = BatchSummary(
            loss: 1, margin: 1, accuracy: 1, chosenLogp: -1, rejectedLogp: -2, chosenReward: 0, rejectedReward: -1)
        func send(_ s: Int, _ part: String, at now: ContinuousClock.Instant) throws -> [String] {
            Self.codes(
                runs.record(
                    stuck, run: "r", at: try Self.position(s, part), batchWarnings: [],
                    thresholds: DiagnosticThresholds(), now: now))
        }
        #expect(try send(0, "0/1 0/1", at: start).isEmpty)
        #expect(try send(1, "0/1 0/1", at: start).isEmpty)
        #expect(try send(2, "0/2 0/1", at: start).isEmpty, "step 2 waits for rank 1")
        #expect(try send(3, "0/2 0/1", at: start + PhaseSteps.idleTimeout) == ["loss_stuck"], "step 2 timed out")
    }

    @Test func lateAndRepeatedPartsJoinNoStep() throws {
        let (runs, registry) = Self.history()
        let one = Self.summary(step: 0, 0 ..< 1), other = Self.summary(step: 9, 0 ..< 1)
        func send(_ batch: BatchSummary, _ s: Int, _ part: String) throws {
            _ = runs.record(
                batch, run: "r", at: try Self.position(s, part), batchWarnings: [], thresholds: DiagnosticThresholds())
        }
        try send(one, 0, "0/2 0/1")
        try send(other, 0, "0/2 0/1")  // a retry, with other values: the first one counts
        try send(one, 0, "1/2 0/1")
        try send(other, 0, "1/2 0/1")  // its step has closed
        #expect(runs.run("r")?.window == [one])
        // So are parts of steps too old to open: with step 10 open, step 6 is.
        try send(one, 10, "0/2 0/1")
        try send(one, 6, "0/2 0/1")
        #expect(runs.run("r")?.train.open.map(\.step) == [10])
        let text = scrape(registry)
        #expect(text.contains(#"prefloss_run_parts_ignored_total{run="r",phase="train",reason="duplicate"} 1"#))
        #expect(text.contains(#"prefloss_run_parts_ignored_total{run="r",phase="train",reason="late"} 2"#))
    }

    @Test func aRunThatGoesBackStartsAfresh() throws {
        let (runs, _) = Self.history()
        for s in 100 ..< 103 { _ = try Self.sendSplit(runs, run: "r", step: s) }
        #expect(runs.run("r")?.window.count == 3)
        // Resumed from a checkpoint at step 50: its steps count, the trend window starts again.
        _ = try Self.sendSplit(runs, run: "r", step: 50)
        #expect(runs.run("r")?.window.count == 1)
        #expect(runs.run("r")?.train.lastClosed == 50)
    }

    @Test func aStepWhosePartsDisagreeOnItsShapeClosesByAge() throws {
        let (runs, _) = Self.history()
        for part in ["0/2 0/1", "1/2 0/2", "1/2 1/2"] {
            _ = runs.record(
                Self.summary(step: 0, 0 ..< 1), run: "r", at: try Self.position(0, part), batchWarnings: [],
                thresholds: DiagnosticThresholds())
        }
        #expect(runs.run("r")?.train.open.map(\.arrived) == [3], "all joined, yet not complete")
    }

    /// KTO's parts, as TRL gathers them: each side's means over that side's rows, a part with an
    /// empty side adding nothing to it, and the margin the difference of the sides' means.
    @Test func anUnpairedStepWeighsEachSideByItsRowsAndSkipsAnEmptySide() {
        var sum = RowWeightedSum()
        sum.add(
            BatchSummary(
                loss: 0.2, margin: .nan, accuracy: .nan, chosenLogp: -1, rejectedLogp: .nan, chosenReward: 0.3,
                rejectedReward: .nan),
            rows: SummaryRows(losses: 3, pairs: 0, chosen: 3, rejected: 0))
        sum.add(
            BatchSummary(
                loss: 0.5, margin: 0.4, accuracy: .nan, chosenLogp: -2, rejectedLogp: -3, chosenReward: 0.1,
                rejectedReward: -0.3),
            rows: SummaryRows(losses: 3, pairs: 0, chosen: 1, rejected: 2))
        let mean = sum.mean
        func close(_ value: Double, _ expected: Double) -> Bool { abs(value - expected) <= 1e-15 }
        #expect(close(mean.loss, (0.2 * 3 + 0.5 * 3) / 6))
        #expect(close(mean.chosenLogp, (-1 * 3 - 2) / 4))
        #expect(close(mean.chosenReward, (0.3 * 3 + 0.1) / 4))
        #expect(mean.rejectedLogp == -3 && mean.rejectedReward == -0.3)
        #expect(close(mean.margin, 0.25 + 0.3))
        #expect(mean.accuracy.isNaN)
    }

    /// A quantity a step has none of has no series for that step: never `nan` on /metrics.
    @Test func aQuantityAStepLacksHasNoSeries() throws {
        let (runs, registry) = Self.history()
        func send(_ s: Int, rejectedLogp: Double) throws {
            let batch = BatchSummary(
                loss: 0.5, margin: .nan, accuracy: .nan, chosenLogp: -1, rejectedLogp: rejectedLogp, chosenReward: 0.1,
                rejectedReward: rejectedLogp.isNaN ? .nan : 0.2)
            _ = runs.record(
                batch, rows: SummaryRows(losses: 2, pairs: 0, chosen: 1, rejected: rejectedLogp.isNaN ? 0 : 1),
                run: "kto", at: try Self.position(s), batchWarnings: [], thresholds: DiagnosticThresholds())
        }
        try send(0, rejectedLogp: -2)
        var text = scrape(registry)
        #expect(text.contains(#"prefloss_run_logps_rejected{run="kto",phase="train"} -2"#))
        #expect(text.contains(#"prefloss_run_rewards_margins{run="kto",phase="train"} -0.1"#))
        try send(1, rejectedLogp: .nan)
        text = scrape(registry)
        #expect(!text.lowercased().contains("nan"), "\(text)")
        #expect(!text.contains("prefloss_run_logps_rejected{") && !text.contains("prefloss_run_rewards_accuracies{"))
        #expect(text.contains(#"prefloss_run_logps_chosen{run="kto",phase="train"} -1"#))
        try send(2, rejectedLogp: -3)
        #expect(scrape(registry).contains(#"prefloss_run_logps_rejected{run="kto",phase="train"} -3"#))
    }

    @Test func memoryStaysBoundedWhateverTheClientSends() throws {
        let (runs, registry) = Self.history(runs: 3, steps: 5)
        let batch = Self.summary(step: 0, 0 ..< 1)
        for s in 0 ..< 2000 {
            for (run, part) in [("huge", "65535/65536 65535/65536"), ("tracked", "4095/4096 0/1")] {
                let phase: RunPhase = s.isMultiple(of: 2) ? .train : .eval
                _ = runs.record(
                    batch, run: run, at: try Self.position(s * 997 % 5000, part, phase), batchWarnings: [],
                    thresholds: DiagnosticThresholds())
            }
        }
        for id in ["huge", "tracked"] {
            let run = try #require(runs.run(id))
            #expect(run.window.count <= 5)
            for steps in [run.train, run.eval] {
                #expect(steps.open.count <= PhaseSteps.openLimit)
                #expect(steps.open.allSatisfy { $0.seen.count <= OpenStep.trackedParts / 64 })
            }
        }
        #expect(MemoryLayout<OpenStep>.stride <= 176, "as RunHistory's bound says")
        #expect(runs.run("huge")?.train.open.allSatisfy { $0.seen.isEmpty } == true, "too many parts to know each")
        #expect(runs.run("tracked")?.train.open.allSatisfy { $0.seen.count == 64 } == true)
        for index in 0 ..< 50 {
            _ = runs.record(
                batch, run: "run-\(index)", at: try Self.position(index), batchWarnings: [],
                thresholds: DiagnosticThresholds())
        }
        #expect(scrape(registry).contains("prefloss_runs_tracked 3"))
        #expect(runs.run("huge") == nil)
    }
}
