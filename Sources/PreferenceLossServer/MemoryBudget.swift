import Synchronization

/// Bounds the requests, and the memory they hold, that the server serves at once.
///
/// A request takes a `Reservation` when it is admitted and grows it before each step
/// that allocates (reading the body, inflating it, parsing, evaluating, encoding); a
/// step that would take the total past `maximumBytes` is refused, never waited for.
final class MemoryBudget: Sendable {
    struct Usage {
        var requests = 0
        var bytes = 0
    }

    private let usage = Mutex(Usage())
    let maximumRequests: Int
    let maximumBytes: Int
    /// Told every new usage (inside the lock, so in order).
    private let report: @Sendable (Usage) -> Void

    init(maximumRequests: Int, maximumBytes: Int, report: @escaping @Sendable (Usage) -> Void = { _ in }) {
        self.maximumRequests = maximumRequests
        self.maximumBytes = maximumBytes
        self.report = report
    }

    /// A reservation of no bytes for one more request; nil when `maximumRequests` are in flight.
    func admit() -> Reservation? {
        let admitted = usage.withLock { usage in
            guard usage.requests < maximumRequests else { return false }
            usage.requests += 1
            report(usage)
            return true
        }
        return admitted ? Reservation(budget: self) : nil
    }

    /// Moves a reservation from `held` to `wanted` bytes; nothing changes unless it is granted.
    fileprivate func resize(from held: Int, to wanted: Int) -> Reservation.Outcome {
        guard wanted <= maximumBytes else { return .neverFits }
        return usage.withLock { usage in
            guard wanted - held <= maximumBytes - usage.bytes else { return .busy }
            usage.bytes += wanted - held
            report(usage)
            return .granted
        }
    }

    fileprivate func release(bytes: Int) {
        usage.withLock { usage in
            usage.requests -= 1
            usage.bytes -= bytes
            report(usage)
        }
    }
}

/// One request's share of a `MemoryBudget`. It is given back once: by `release()`,
/// or when the last reference goes (a response body that was never written, say).
final class Reservation: Sendable {
    private struct State {
        var bytes = 0
        var released = false
    }

    private let budget: MemoryBudget
    private let state = Mutex(State())

    fileprivate init(budget: MemoryBudget) {
        self.budget = budget
    }

    deinit { release() }

    /// What asking for more gives.
    enum Outcome: Equatable {
        case granted
        /// The budget cannot hold it now; it may later.
        case busy
        /// More than the whole budget: it never will.
        case neverFits
    }

    /// Moves the reservation to `bytes`, or only up to them when `growOnly`.
    private func move(to bytes: Int, growOnly: Bool) -> Outcome {
        state.withLock { state in
            guard !state.released else { return .busy }
            guard bytes != state.bytes, bytes > state.bytes || !growOnly else { return .granted }
            let outcome = budget.resize(from: state.bytes, to: bytes)
            if outcome == .granted { state.bytes = bytes }
            return outcome
        }
    }

    /// Grows the reservation to at least `bytes`, or throws the problem that says why not:
    /// 503 when the server is busy, 413 when no amount of waiting would make room.
    func require(_ bytes: Int) throws(Problem) {
        if let refusal = refusal(toGrowTo: bytes) { throw refusal }
    }

    /// Sets the reservation to `bytes`, giving back what a step no longer holds; more is granted,
    /// or refused, as `require` grants it.
    func resize(to bytes: Int) throws(Problem) {
        if let refusal = refusal(move(to: bytes, growOnly: false), bytes: bytes) { throw refusal }
    }

    /// Grows the reservation to at least `bytes`; nil when granted, else the problem that refuses it.
    func refusal(toGrowTo bytes: Int) -> Problem? {
        refusal(move(to: bytes, growOnly: true), bytes: bytes)
    }

    private func refusal(_ outcome: Outcome, bytes: Int) -> Problem? {
        switch outcome {
        case .granted:
            return nil
        case .busy:
            return .unavailable("the server holds as much request memory as it is allowed; retry shortly")
        case .neverFits:
            return Self.neverFits(bytes, budget: budget)
        }
    }

    /// The 413 for a request that needs `bytes`, more than the whole budget.
    static func neverFits(_ bytes: Int, budget: MemoryBudget) -> Problem {
        Problem(
            .contentTooLarge,
            detail: "this request needs about \(bytes) bytes of memory to answer, more than the server's in-flight "
                + "limit of \(budget.maximumBytes); send smaller batches")
    }

    /// Gives the request's slot and bytes back; later calls do nothing.
    func release() {
        let bytes: Int? = state.withLock { state in
            guard !state.released else { return nil }
            state.released = true
            return state.bytes
        }
        if let bytes { budget.release(bytes: bytes) }
    }
}
