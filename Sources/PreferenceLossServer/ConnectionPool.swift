import HummingbirdCore
import NIOCore
import Synchronization

/// The connections of one listener, at most `maximum` of them, kept as nginx keeps its own: at
/// the cap, the connection that has waited longest for a request (silent since its accept, or
/// idle since its last answer) is closed to make room, when one is accepted and when one begins
/// to wait after an answer. New connections wait in the listen backlog only while every one
/// open is in a request. So connections that cost a client nothing, opened and left silent or
/// kept after a request, cannot keep everyone else out.
final class ConnectionPool: Sendable {
    private struct State {
        var open = 0
        /// The connections waiting for a request, by when they began to wait.
        var waiting: [ObjectIdentifier: (since: UInt64, channel: any Channel)] = [:]
        var clock: UInt64 = 0
        /// Connections closed to make room, until their close is seen.
        var closing: Set<ObjectIdentifier> = []

        var atCap: Bool { open - closing.count >= maximum }
        let maximum: Int

        /// Takes the connection that has waited longest out of `waiting`, to be closed.
        mutating func oldestWaiting() -> (any Channel)? {
            guard let oldest = waiting.min(by: { $0.value.since < $1.value.since }) else { return nil }
            waiting[oldest.key] = nil
            closing.insert(oldest.key)
            return oldest.value.channel
        }
    }

    let maximum: Int
    private let state: Mutex<State>

    init(maximum: Int) {
        self.maximum = maximum
        state = Mutex(State(maximum: maximum))
    }

    /// What the listener asks before it accepts, and tells as connections open and close.
    var delegate: some AvailableConnectionsDelegate { Delegate(pool: self) }

    /// `channel` waits for a request: from its accept (`afterAnswer` false), or since its last
    /// answer, when, at the cap, the connection that has waited longest is closed to make room.
    /// - Returns: whether that is `channel` itself, for the caller to close once its answer is written.
    @discardableResult
    func waiting(_ channel: any Channel, afterAnswer: Bool) -> Bool {
        let evicted: (any Channel)? = state.withLock { state in
            state.clock += 1
            state.waiting[ObjectIdentifier(channel)] = (state.clock, channel)
            return afterAnswer && state.atCap ? state.oldestWaiting() : nil
        }
        guard let evicted else { return false }
        if evicted === channel { return true }
        evicted.close(promise: nil)
        return false
    }

    /// `channel` is in a request, or closed.
    func busy(_ channel: any Channel) {
        state.withLock { state in
            state.waiting[ObjectIdentifier(channel)] = nil
            state.closing.remove(ObjectIdentifier(channel))
        }
    }

    private func opened() {
        let evicted: (any Channel)? = state.withLock { state in
            state.open += 1
            return state.atCap ? state.oldestWaiting() : nil
        }
        evicted?.close(promise: nil)
    }

    private func closed() {
        state.withLock { $0.open -= 1 }
    }

    private var accepting: Bool {
        state.withLock { $0.open < maximum }
    }

    private struct Delegate: AvailableConnectionsDelegate {
        let pool: ConnectionPool

        func connectionOpened() { pool.opened() }
        func connectionClosed() { pool.closed() }
        func isAcceptingNewConnections() -> Bool { pool.accepting }
    }
}
