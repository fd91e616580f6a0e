import HeaderGrammar
import PreferenceLoss

/// The open steps of one phase (train or eval) of a run, and when they close.
///
/// Steps close in order, each at most once, when:
/// - a part completes one (every rank's every micro-batch has come): it and every older open
///   step close, since every rank has gone past them;
/// - a part of a step `openLimit` or more newer arrives (a rank stopped sending, or the step
///   had more parts than `OpenStep.trackedParts` and lost one);
/// - no part has joined it for `idleTimeout` (checked at each request of the run): it and
///   every older open step close.
///
/// So at most `openLimit` steps are open. A part of a step that has closed, or of a step too
/// old to open, is late and joins nothing; a part `restartGap` or more steps older than the
/// newest starts the phase afresh (a run resumed from a checkpoint, or a new one under the
/// same id), discarding its open steps.
struct PhaseSteps {
    /// Steps open at once.
    static let openLimit = 4
    /// How far back a part means the run went back, rather than that it is late.
    static let restartGap = 2 * openLimit
    /// How long an open step waits for its next part.
    static let idleTimeout: Duration = .seconds(300)

    /// What became of a part.
    enum Fate: Equatable {
        case joined
        /// Joined after the phase started afresh.
        case restarted
        /// Its step had closed, or was too old to open.
        case late
        /// It had joined its step already.
        case duplicate
    }

    /// A step that closed: its number and the means over its parts' rows.
    struct Closed: Equatable {
        var step: Int
        var summary: BatchSummary
    }

    /// Oldest first.
    private(set) var open: [OpenStep] = []
    private(set) var newest: Int?
    private(set) var lastClosed: Int?

    /// Adds a part of `step`; returns what became of it and the steps that closed, oldest first.
    mutating func add(
        _ batch: BatchSummary, rows: SummaryRows, step: Int, part: RunPart, now: ContinuousClock.Instant
    ) -> (fate: Fate, closed: [Closed]) {
        var fate = Fate.joined
        if let newest, step <= newest - Self.openLimit {
            guard step <= newest - Self.restartGap else { return (.late, []) }
            self = PhaseSteps()
            fate = .restarted
        }
        if let lastClosed, step <= lastClosed { return (.late, []) }
        var closed: [Closed] = []
        if step > newest ?? Int.min {
            newest = step
            close(through: step - Self.openLimit, into: &closed)
        }
        let index = open.firstIndex { $0.step >= step } ?? open.endIndex
        if index == open.endIndex || open[index].step != step {
            open.insert(OpenStep(step: step, shape: part, now: now), at: index)
        }
        guard open[index].join(batch, rows: rows, part: part, now: now) else { return (.duplicate, closed) }
        if open[index].isComplete { close(through: step, into: &closed) }
        return (fate, closed)
    }

    /// Closes the steps that have waited `idleTimeout` for a part, and every older one.
    mutating func closeIdle(now: ContinuousClock.Instant) -> [Closed] {
        guard let idle = open.last(where: { now - $0.lastPart >= Self.idleTimeout }) else { return [] }
        var closed: [Closed] = []
        close(through: idle.step, into: &closed)
        return closed
    }

    private mutating func close(through step: Int, into closed: inout [Closed]) {
        let count = open.prefix { $0.step <= step }.count
        guard count > 0 else { return }
        closed += open.prefix(count).map { Closed(step: $0.step, summary: $0.sum.mean) }
        lastClosed = open[count - 1].step
        open.removeFirst(count)
    }
}
