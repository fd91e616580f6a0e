import ServiceLifecycle
import Synchronization

/// Whether the server should receive new traffic: true until shutdown begins.
public final class Readiness: Sendable {
    private let ready = Atomic<Bool>(true)

    public init() {}

    public var isReady: Bool { ready.load(ordering: .relaxed) }

    func markShuttingDown() { ready.store(false, ordering: .relaxed) }
}

/// Turns readiness off when graceful shutdown begins, then holds the shutdown for
/// `drainDelay` so load balancers stop sending traffic before the server stops
/// accepting it. Run it after the application in one ServiceGroup: groups shut
/// services down in reverse order, so this one goes first.
struct ReadinessService: Service {
    let readiness: Readiness
    let drainDelay: Duration

    func run() async throws {
        try? await gracefulShutdown()
        readiness.markShuttingDown()
        if drainDelay > .zero {
            try? await Task.sleep(for: drainDelay)
        }
    }
}
