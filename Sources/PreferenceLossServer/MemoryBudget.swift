import Synchronization

/// Bounds the requests, and the memory they hold, that the server serves at once.
///
/// A request takes a `Reservation` when it arrives and grows it before each step that
/// allocates (reading the body, inflating it, parsing, evaluating, encoding); a step that
/// would take the total past `maximumBytes` is refused, never waited for, with one exception
/// below. It takes one of `maximumRequests` slots only once its body has arrived
/// (`Reservation.admit()`), so bodies that arrive slowly, or never, hold memory for the bytes
/// they sent but no slot.
///
/// Bodies still arriving are not bounded in number (only by the connections), so they could
/// share the budget out until none could finish. So the first body refused room becomes the
/// first in line: it waits for room (`Reservation.requireInLine(_:)`, for up to `longestWait`)
/// instead of failing, and, until it has all arrived, no other body is given the room it waits
/// for: they are refused and give theirs back, and the first in line goes on.
final class MemoryBudget: Sendable {
    struct Usage {
        var requests = 0
        var bytes = 0
    }

    /// The body first in line for room.
    private struct FirstInLine {
        let reservation: ObjectIdentifier
        /// The growth it waits for; 0 while it is not waiting.
        var need = 0
        var waiting: CheckedContinuation<Void, Never>?
    }

    private struct State {
        var usage = Usage()
        var first: FirstInLine?
    }

    /// How long the first in line waits for room, each time, before it too is refused.
    static let longestWait = Duration.seconds(1)

    private let state = Mutex(State())
    let maximumRequests: Int
    let maximumBytes: Int
    /// Told every new usage (inside the lock, so in order).
    private let report: @Sendable (Usage) -> Void

    init(maximumRequests: Int, maximumBytes: Int, report: @escaping @Sendable (Usage) -> Void = { _ in }) {
        self.maximumRequests = maximumRequests
        self.maximumBytes = maximumBytes
        self.report = report
    }

    /// A reservation of no bytes and no slot, for a request that has just arrived.
    func reserve() -> Reservation {
        Reservation(budget: self)
    }

    /// Takes a slot for `reservation`, whose body has arrived; false when `maximumRequests` are
    /// in flight.
    fileprivate func takeSlot(_ reservation: ObjectIdentifier) -> Bool {
        let (taken, waiting) = state.withLock { state in
            let waiting = leaveLine(reservation, &state)
            guard state.usage.requests < maximumRequests else { return (false, waiting) }
            state.usage.requests += 1
            report(state.usage)
            return (true, waiting)
        }
        waiting?.resume()
        return taken
    }

    /// Moves `reservation` from `held` to `wanted` bytes; nothing changes unless it is granted.
    /// A body still arriving (`inLine`) that is refused room becomes first in line when no other
    /// body is: it is told to wait.
    fileprivate func resize(
        _ reservation: ObjectIdentifier, from held: Int, to wanted: Int, inLine: Bool
    ) -> Reservation.Outcome {
        guard wanted <= maximumBytes else { return .neverFits }
        // Bytes given back are always taken, and may be the room the first in line waits for.
        defer { if wanted < held { wake() } }
        return state.withLock { state in
            var free = maximumBytes - state.usage.bytes
            if let first = state.first, first.reservation != reservation { free -= first.need }
            guard wanted - held <= max(free, 0) else {
                guard inLine, state.first.map({ $0.reservation == reservation }) ?? true else { return .busy }
                state.first = FirstInLine(reservation: reservation, need: wanted - held)
                return .wait
            }
            state.usage.bytes += wanted - held
            if state.first?.reservation == reservation { state.first?.need = 0 }
            report(state.usage)
            return .granted
        }
    }

    /// Returns once bytes have been given back, `deadline` has passed or the task is cancelled:
    /// the first in line then asks again.
    fileprivate func waitForRoom(_ reservation: ObjectIdentifier, until deadline: ContinuousClock.Instant) async {
        let timer = Task { [self] in
            try await Task.sleep(until: deadline)
            wake()
        }
        defer { timer.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    guard state.first?.reservation == reservation, !Task.isCancelled else { return true }
                    state.first?.waiting = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            wake()
        }
    }

    /// Resumes the first in line, if it waits.
    private func wake() {
        let waiting = state.withLock { state in
            defer { state.first?.waiting = nil }
            return state.first?.waiting
        }
        waiting?.resume()
    }

    /// `reservation` is no longer a body arriving: the line moves on. Returns its wait, if any,
    /// for the caller to resume once out of the lock.
    private func leaveLine(
        _ reservation: ObjectIdentifier, _ state: inout State
    ) -> CheckedContinuation<Void, Never>? {
        guard let first = state.first, first.reservation == reservation else { return nil }
        state.first = nil
        return first.waiting
    }

    fileprivate func release(_ reservation: ObjectIdentifier, bytes: Int, slot: Bool) {
        let waiting = state.withLock { state in
            let waiting = leaveLine(reservation, &state)
            if slot { state.usage.requests -= 1 }
            state.usage.bytes -= bytes
            report(state.usage)
            return waiting
        }
        waiting?.resume()
        wake()
    }
}

/// One request's share of a `MemoryBudget`: bytes, and a slot once admitted. It is given back
/// once: by `release()`, or when the last reference goes (a response body that was never
/// written, say).
final class Reservation: Sendable {
    private struct State {
        var bytes = 0
        var admitted = false
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
        /// The budget cannot hold it now, and the request is first in line for room.
        case wait
        /// More than the whole budget: it never will.
        case neverFits
    }

    /// Moves the reservation to `bytes`, or only up to them when `growOnly`; `inLine` for a
    /// body still arriving.
    private func move(to bytes: Int, growOnly: Bool = true, inLine: Bool = false) -> Outcome {
        state.withLock { state in
            guard !state.released else { return .busy }
            guard bytes != state.bytes, bytes > state.bytes || !growOnly else { return .granted }
            let outcome = budget.resize(ObjectIdentifier(self), from: state.bytes, to: bytes, inLine: inLine)
            if outcome == .granted { state.bytes = bytes }
            return outcome
        }
    }

    /// Takes a request slot, or throws 503 when the server serves its limit of requests already.
    func admit() throws(Problem) {
        let admitted = state.withLock { state in
            if !state.admitted, !state.released { state.admitted = budget.takeSlot(ObjectIdentifier(self)) }
            return state.admitted
        }
        guard admitted else {
            throw Problem.unavailable(
                "the server is serving its limit of \(budget.maximumRequests) requests; retry shortly")
        }
    }

    /// Grows the reservation to at least `bytes`, or throws the problem that says why not:
    /// 503 when the server is busy, 413 when no amount of waiting would make room.
    func require(_ bytes: Int) throws(Problem) {
        if let refusal = refusal(toGrowTo: bytes) { throw refusal }
    }

    /// Grows the reservation of a body still arriving to at least `bytes`, waiting for room when
    /// it is first in line (see `MemoryBudget`); else as `require(_:)`. Cancelled, or past
    /// `MemoryBudget.longestWait`, it throws 503.
    func requireInLine(_ bytes: Int) async throws(Problem) {
        let deadline = ContinuousClock.now + MemoryBudget.longestWait
        while true {
            switch move(to: bytes, inLine: true) {
            case .granted: return
            case .wait where !Task.isCancelled && ContinuousClock.now < deadline:
                await budget.waitForRoom(ObjectIdentifier(self), until: deadline)
            case .busy, .wait: throw Self.busy
            case .neverFits: throw Self.neverFits(bytes, budget: budget)
            }
        }
    }

    /// Sets the reservation to `bytes`, giving back what a step no longer holds; more is granted,
    /// or refused, as `require` grants it.
    func resize(to bytes: Int) throws(Problem) {
        if let refusal = refusal(move(to: bytes, growOnly: false), bytes: bytes) { throw refusal }
    }

    /// Grows the reservation to at least `bytes`; nil when granted, else the problem that refuses it.
    func refusal(toGrowTo bytes: Int) -> Problem? {
        refusal(move(to: bytes), bytes: bytes)
    }

    private func refusal(_ outcome: Outcome, bytes: Int) -> Problem? {
        switch outcome {
        case .granted: nil
        case .busy, .wait: Self.busy
        case .neverFits: Self.neverFits(bytes, budget: budget)
        }
    }

    private static let busy = Problem.unavailable(
        "the server holds as much request memory as it is allowed; retry shortly")

    /// The 413 for a request that needs `bytes`, more than the whole budget.
    static func neverFits(_ bytes: Int, budget: MemoryBudget) -> Problem {
        Problem(
            .contentTooLarge,
            detail: "this request needs about \(bytes) bytes of memory to answer, more than the server's in-flight "
                + "limit of \(budget.maximumBytes); send smaller batches")
    }

    /// Gives the request's bytes, and its slot if it took one, back; later calls do nothing.
    func release() {
        let held: (bytes: Int, slot: Bool)? = state.withLock { state in
            guard !state.released else { return nil }
            state.released = true
            return (state.bytes, state.admitted)
        }
        if let held { budget.release(ObjectIdentifier(self), bytes: held.bytes, slot: held.slot) }
    }
}
