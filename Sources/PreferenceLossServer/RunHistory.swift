import CoreMetrics
import HeaderGrammar
import PreferenceLoss
import Synchronization

/// The recent steps of each training run that names itself with `X-Run-Id`, and the run's
/// Prometheus series.
///
/// A request with `X-Run-Step` is a part of a step (`X-Run-Part`) of a phase (`X-Run-Phase`):
/// `PhaseSteps` keeps each phase's open steps and closes them. A request without it is a train
/// step of its own, closed at once. The trend warnings run over the last `stepsPerRun` closed
/// train steps, and go to the response of the request that closed the last of them (a step
/// closed by age: the run's next request); eval steps are published, never trended.
///
/// Bounded: at most `maximumRuns` runs, each with its last `stepsPerRun` train steps (56 bytes
/// each) and at most `PhaseSteps.openLimit` open steps per phase (176 bytes each and a bitmap
/// of at most 544 with its header: at most 5.6 KiB per run), whatever the client sends. A run
/// idle for `idleExpiry` is dropped (runs are swept at most once a second), and when a new run
/// would exceed the limit the least recently seen one is; a dropped run's series leave
/// `/metrics` with it, so label cardinality stays bounded by `maximumRuns` × 2 phases.
final class RunHistory: Sendable {
    let maximumRuns: Int
    let stepsPerRun: Int
    let idleExpiry: Duration
    private let factory: any MetricsFactory
    private let tracked: Gauge
    private let state: Mutex<State>

    private struct State {
        var runs: [String: Run] = [:]
        var lastSweep: ContinuousClock.Instant
    }

    struct Run {
        /// The last closed train steps, oldest first.
        fileprivate(set) var window: [BatchSummary] = []
        fileprivate(set) var train = PhaseSteps()
        fileprivate(set) var eval = PhaseSteps()
        fileprivate var lastSeen: ContinuousClock.Instant
        fileprivate var series: RunSeries

        /// `body` applied to the steps of `phase`, in place.
        fileprivate mutating func steps<Result>(_ phase: RunPhase, _ body: (inout PhaseSteps) -> Result) -> Result {
            switch phase {
            case .train: body(&train)
            case .eval: body(&eval)
            }
        }
    }

    init(maximumRuns: Int, stepsPerRun: Int, idleExpiry: Duration, factory: any MetricsFactory) {
        self.maximumRuns = maximumRuns
        self.stepsPerRun = stepsPerRun
        self.idleExpiry = idleExpiry
        self.factory = factory
        tracked = Gauge(label: MetricFamily.runsTracked.rawValue, factory: factory)
        state = Mutex(State(lastSweep: .now))
    }

    /// Records one batch of `run`, over `rows`, at `position` (nil: a step of its own);
    /// returns the trend warnings over the last `stepsPerRun` closed train steps when a train
    /// step closed (none until there are that many). Every warning of the response
    /// (`batchWarnings` and the trend's) is counted in the run's series.
    func record(
        _ batch: BatchSummary, rows: SummaryRows = .paired(1), run id: String, at position: RunPosition? = nil,
        batchWarnings: [LossWarning], thresholds: DiagnosticThresholds, now: ContinuousClock.Instant = .now
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
            // Taken out, so that its arrays are changed in place rather than copied.
            var run =
                state.runs.removeValue(forKey: id) ?? Run(lastSeen: now, series: RunSeries(run: id, factory: factory))
            run.lastSeen = now
            var trainClosed = false
            for phase in RunPhase.allCases {
                for step in run.steps(phase, { $0.closeIdle(now: now) }) {
                    finish(step.summary, step: step.step, phase: phase, of: &run)
                    trainClosed = trainClosed || phase == .train
                }
            }
            if let position {
                let (fate, closed) = run.steps(position.phase) {
                    $0.add(batch, rows: rows, step: position.step, part: position.part, now: now)
                }
                switch fate {
                case .joined: break
                case .restarted: if position.phase == .train { run.window.removeAll() }
                case .late: run.series.ignore(phase: position.phase, reason: "late")
                case .duplicate: run.series.ignore(phase: position.phase, reason: "duplicate")
                }
                for step in closed { finish(step.summary, step: step.step, phase: position.phase, of: &run) }
                trainClosed = trainClosed || (position.phase == .train && !closed.isEmpty)
            } else {
                finish(batch, step: nil, phase: .train, of: &run)
                trainClosed = true
            }
            let trend =
                trainClosed && run.window.count == stepsPerRun ? trendWarnings(run.window, thresholds: thresholds) : []
            // Inside the lock, so that no series is published for a run another request just dropped.
            run.series.count(batchWarnings + trend)
            state.runs[id] = run
            tracked.record(state.runs.count)
            return trend
        }
    }

    /// Publishes a closed step, and keeps it in the window if it is a train step.
    private func finish(_ summary: BatchSummary, step: Int?, phase: RunPhase, of run: inout Run) {
        run.series.publish(summary, step: step, phase: phase)
        guard phase == .train else { return }
        run.window.append(summary)
        if run.window.count > stepsPerRun { run.window.removeFirst(run.window.count - stepsPerRun) }
    }

    /// The run's history as it stands, for tests.
    func run(_ id: String) -> Run? {
        state.withLock { $0.runs[id] }
    }
}
