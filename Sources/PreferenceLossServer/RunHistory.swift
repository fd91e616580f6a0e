import CoreMetrics
import PreferenceLoss
import Synchronization

/// The recent batches of each training run that names itself with `X-Run-Id`, and the run's
/// Prometheus series.
///
/// Bounded: at most `maximumRuns` runs, each with its last `batchesPerRun` batches (56 bytes
/// each). A run idle for `idleExpiry` is dropped (runs are swept at most once a second), and
/// when a new run would exceed the limit the least recently seen one is; a dropped run's
/// series leave `/metrics` with it, so label cardinality stays bounded by `maximumRuns`.
final class RunHistory: Sendable {
    let maximumRuns: Int
    let batchesPerRun: Int
    let idleExpiry: Duration
    private let factory: any MetricsFactory
    private let tracked: Gauge
    private let state: Mutex<State>

    private struct State {
        var runs: [String: Run] = [:]
        var lastSweep: ContinuousClock.Instant
    }

    private struct Run {
        var batches: [BatchSummary] = []
        var lastSeen: ContinuousClock.Instant
        var series: RunSeries
    }

    init(maximumRuns: Int, batchesPerRun: Int, idleExpiry: Duration, factory: any MetricsFactory) {
        self.maximumRuns = maximumRuns
        self.batchesPerRun = batchesPerRun
        self.idleExpiry = idleExpiry
        self.factory = factory
        tracked = Gauge(label: MetricFamily.runsTracked.rawValue, factory: factory)
        state = Mutex(State(lastSweep: .now))
    }

    /// Records one batch of `run` and returns the trend warnings over its last
    /// `batchesPerRun` batches (none until it has that many), after publishing the batch's
    /// values and every warning of the response (`batchWarnings` and the trend's) as the run's series.
    func record(
        _ batch: BatchSummary, run id: String, batchWarnings: [LossWarning], thresholds: DiagnosticThresholds,
        now: ContinuousClock.Instant = .now
    ) -> [LossWarning] {
        state.withLock { state in
            if now - state.lastSweep >= .seconds(1) {
                state.lastSweep = now
                for (expiredID, run) in state.runs where now - run.lastSeen > idleExpiry {
                    run.series.destroy()
                    state.runs[expiredID] = nil
                }
            }
            if state.runs[id] == nil, state.runs.count >= maximumRuns,
                let oldest = state.runs.min(by: { $0.value.lastSeen < $1.value.lastSeen })
            {
                oldest.value.series.destroy()
                state.runs[oldest.key] = nil
            }
            var run = state.runs[id] ?? Run(lastSeen: now, series: RunSeries(run: id, factory: factory))
            run.lastSeen = now
            run.batches.append(batch)
            if run.batches.count > batchesPerRun { run.batches.removeFirst(run.batches.count - batchesPerRun) }
            let trend = run.batches.count == batchesPerRun ? trendWarnings(run.batches, thresholds: thresholds) : []
            // Inside the lock, so that no series is published for a run another request just dropped.
            run.series.publish(batch, warnings: batchWarnings + trend)
            state.runs[id] = run
            tracked.record(state.runs.count)
            return trend
        }
    }
}

/// One run's Prometheus series, labelled `run`.
private struct RunSeries: Sendable {
    let run: String
    let factory: any MetricsFactory
    let loss, margin, accuracy, chosenLogp, rejectedLogp: Gauge
    let batches: Counter
    /// The run's warning counters by code, made as codes first come (the server's own codes: a
    /// small fixed set).
    private var warningCounters: [String: Counter] = [:]

    init(run: String, factory: any MetricsFactory) {
        self.run = run
        self.factory = factory
        let label = [("run", run)]
        loss = Gauge(label: MetricFamily.runLoss.rawValue, dimensions: label, factory: factory)
        margin = Gauge(label: MetricFamily.runMargin.rawValue, dimensions: label, factory: factory)
        accuracy = Gauge(label: MetricFamily.runAccuracy.rawValue, dimensions: label, factory: factory)
        chosenLogp = Gauge(label: MetricFamily.runChosenLogp.rawValue, dimensions: label, factory: factory)
        rejectedLogp = Gauge(label: MetricFamily.runRejectedLogp.rawValue, dimensions: label, factory: factory)
        batches = Counter(label: MetricFamily.runBatches.rawValue, dimensions: label, factory: factory)
    }

    mutating func publish(_ batch: BatchSummary, warnings: [LossWarning]) {
        loss.record(batch.loss)
        margin.record(batch.margin)
        accuracy.record(batch.accuracy)
        chosenLogp.record(batch.chosenLogp)
        rejectedLogp.record(batch.rejectedLogp)
        batches.increment()
        for warning in warnings {
            if warningCounters[warning.code] == nil {
                warningCounters[warning.code] = Counter(
                    label: MetricFamily.runWarnings.rawValue, dimensions: [("run", run), ("code", warning.code)],
                    factory: factory)
            }
            warningCounters[warning.code]?.increment()
        }
    }

    /// Removes every series of the run from `/metrics`.
    func destroy() {
        for gauge in [loss, margin, accuracy, chosenLogp, rejectedLogp] { gauge.destroy() }
        batches.destroy()
        for counter in warningCounters.values { counter.destroy() }
    }
}
