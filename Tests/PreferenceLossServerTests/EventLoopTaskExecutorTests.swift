import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@testable import PreferenceLossServer

@Suite struct EventLoopTaskExecutorTests {
    /// A task that prefers the executor runs on its loop, and is back on it after a suspension
    /// that another thread ends (a sleep's timer).
    @Test func jobsRunOnTheLoopBeforeAndAfterASuspension() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let onLoop = try await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) {
            let before = loop.inEventLoop
            try await Task.sleep(for: .milliseconds(1))
            return [before, loop.inEventLoop]
        }
        #expect(onLoop == [true, true])
    }

    /// The server's connections (`serverBuilder`) run their routes on their own event loops.
    @Test func aConnectionsRequestsAreHandledOnItsEventLoop() async throws {
        let router = Router(context: LossRequestContext.self)
        router.get("/probe") { _, context in
            try await Task.sleep(for: .milliseconds(1))
            return context.channel.eventLoop.inEventLoop ? "on its loop" : "off its loop"
        }
        let server = try serverBuilder(
            ServerSettings(), timeout: .seconds(5), idleTimeout: nil, pool: ConnectionPool(maximum: 8))
        try await Application(router: router, server: server).test(.live) { client in
            for _ in 0 ..< 3 {
                let response = try await client.execute(uri: "/probe", method: .get)
                #expect(String(buffer: response.body) == "on its loop")
            }
        }
    }
}
