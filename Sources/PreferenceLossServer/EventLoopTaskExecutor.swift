import NIOCore

/// Runs the jobs of the tasks that prefer it on one event loop. A connection's handling, given
/// its channel's loop as its task executor preference, runs where its reads and writes happen:
/// its requests are read, answered and written without a hop to Swift's cooperative pool and
/// back (two context switches a request, measured with the server pinned to one core).
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
