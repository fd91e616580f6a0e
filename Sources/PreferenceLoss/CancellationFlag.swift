import Synchronization

/// Asks long work to stop: set from any thread, read by the work at its safe points (between
/// passes over a batch, every few thousand rows), where it then throws `CancellationError`.
public final class CancellationFlag: Sendable {
    private let cancelled = Atomic(false)

    public init() {}

    public func cancel() {
        cancelled.store(true, ordering: .relaxed)
    }

    public var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    /// Throws `CancellationError` once the flag is set.
    public func check() throws(CancellationError) {
        if isCancelled { throw CancellationError() }
    }
}
