import NIOPosix
import ServiceLifecycle

/// The threads that do the loss requests' work (inflating, decoding, the loss, encoding), apart
/// from the event loops: a heavy request never delays `/health`, `/ready`, `/metrics` or the
/// connections' I/O, whose tasks run there (`EventLoopTaskExecutor`).
///
/// Its queue holds at most one job per admitted request, so `--max-in-flight-requests` bounds it.
/// As a service it stops its threads once the server has stopped (after the requests in flight).
final class WorkerPool: Service {
    private let threads: NIOThreadPool

    init(workers: Int) {
        threads = NIOThreadPool(numberOfThreads: workers)
        threads.start()
    }

    /// What `work` returns, run on one of the workers; the caller's task waits without a thread.
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await threads.runIfActive(work)
    }

    func run() async throws {
        try? await gracefulShutdown()
        try await threads.shutdownGracefully()
    }
}
