import NIOCore
import NIOEmbedded
import Testing

@testable import PreferenceLossServer

/// The bounds `GuardedHTTPChannel` keeps per connection, on `ConnectionState` itself: what
/// arrives in one read, and what is answered when, is the test's to say here.
@Suite struct ConnectionStateTests {
    let channel = EmbeddedChannel()

    func connection() -> ConnectionState {
        let connection = ConnectionState(headTimeout: .seconds(600), bodyTimeout: .seconds(600), writeTimeout: nil)
        connection.opened(channel)
        return connection
    }

    @Test func pipelinedRequestsPastTheCountAreRefusedAndTheLastAcceptedClosesTheConnection() {
        let connection = connection()
        connection.bytesArrived(channel)
        for _ in 0 ..< ConnectionState.maximumPendingRequests {
            connection.headRead(keepsAlive: true, headBytes: 40)
        }
        #expect(!connection.isRefusingRequests)
        connection.headRead(keepsAlive: true, headBytes: 40)
        #expect(connection.isRefusingRequests)
        for _ in 1 ..< ConnectionState.maximumPendingRequests {
            #expect(!connection.currentResponseCloses)
            #expect(!connection.responseEndedClosesConnection(channel))
        }
        #expect(connection.currentResponseCloses)
        #expect(connection.responseEndedClosesConnection(channel))
        connection.cancel()
    }

    /// A connection whose request bodies must arrive within 5 s, with the observer whose parts
    /// the body deadline ends.
    func timingBodies() throws -> ConnectionState {
        let connection = ConnectionState(headTimeout: .seconds(600), bodyTimeout: .seconds(5), writeTimeout: nil)
        try channel.pipeline.syncOperations.addHandler(RequestHeadObserver(connection: connection))
        connection.opened(channel)
        return connection
    }

    /// Whether the body deadline fired into the pipeline by now.
    func bodyTimedOut() -> Bool {
        do {
            try channel.throwIfErrorCaught()
            return false
        } catch {
            return error is BodyTimedOut
        }
    }

    @Test func aBodyStillArrivingAfterAReadIsTimedFromThatRead() throws {
        let connection = try timingBodies()
        connection.headRead(keepsAlive: true, headBytes: 40)
        connection.headArrived(channel)
        connection.requestEnded()
        connection.readCompleted(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(!bodyTimedOut(), "a body whole in its read is not timed")
        #expect(!connection.responseEndedClosesConnection(channel))
        connection.headRead(keepsAlive: true, headBytes: 40)
        connection.headArrived(channel)
        connection.readCompleted(channel)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(4900))
        #expect(!bodyTimedOut())
        connection.readCompleted(channel)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(200))
        #expect(bodyTimedOut(), "timed from the first read that left it open, not the last")
        connection.cancel()
    }

    /// A request read whole, and one pipelined behind it whose body is still arriving.
    func bodyPipelinedBehindARequest() throws -> ConnectionState {
        let connection = try timingBodies()
        connection.headRead(keepsAlive: true, headBytes: 40)
        connection.headArrived(channel)
        connection.requestEnded()
        connection.headRead(keepsAlive: true, headBytes: 40)
        connection.headArrived(channel)
        return connection
    }

    /// Expects the body deadline to fire 5 s from now, not before.
    func expectBodyTimedOutInFiveSeconds() {
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(4900))
        #expect(!bodyTimedOut())
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(200))
        #expect(bodyTimedOut())
    }

    @Test func aBodyPipelinedBehindAnAnswerIsTimedFromThatAnswersEnd() throws {
        let connection = try bodyPipelinedBehindARequest()
        connection.readCompleted(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(!bodyTimedOut(), "its request waits for the answer before it")
        #expect(!connection.responseEndedClosesConnection(channel))
        expectBodyTimedOutInFiveSeconds()
        connection.requestEnded()
        connection.cancel()
    }

    @Test func aBodyPipelinedBehindAnAnswerTheClientIsSlowToReadIsTimedOnceReadsResume() throws {
        let connection = try bodyPipelinedBehindARequest()
        channel.isWritable = false
        #expect(!connection.responseEndedClosesConnection(channel))
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(!bodyTimedOut(), "nothing is read while the answer before it waits for the client")
        channel.isWritable = true
        connection.writabilityChanged(channel)
        expectBodyTimedOutInFiveSeconds()
        connection.requestEnded()
        connection.cancel()
    }

    @Test func anAnswersReservationIsGivenBackOnceItsEndIsWrittenOrTheConnectionCloses() throws {
        let budget = MemoryBudget(maximumRequests: 4, maximumBytes: 100)
        func fits(_ bytes: Int) -> Bool {
            let probe = budget.reserve()
            defer { probe.release() }
            return probe.refusal(toGrowTo: bytes) == nil
        }
        let connection = connection()
        let answered = budget.reserve()
        try answered.require(100)
        connection.hold(answered)
        let end = try #require(connection.answerEnd(promise: nil, on: channel.eventLoop))
        #expect(!fits(1), "held while the answer's end is on its way to the socket")
        #expect(connection.answerEnd(promise: nil, on: channel.eventLoop) == nil, "the next answer holds nothing")
        end.succeed()
        #expect(fits(100))
        let unanswered = budget.reserve()
        try unanswered.require(100)
        connection.hold(unanswered)
        #expect(!fits(1))
        connection.closed(channel)
        #expect(fits(100), "given back when the connection closes before the answer's end")
        let late = budget.reserve()
        try late.require(100)
        connection.hold(late)
        #expect(fits(100), "given back at once when the connection closed before the route handed it over")
    }

    @Test func aBodyThatEndsInTimeIsNotCutOff() throws {
        let connection = try timingBodies()
        connection.headRead(keepsAlive: true, headBytes: 40)
        connection.headArrived(channel)
        connection.readCompleted(channel)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(4900))
        connection.requestEnded()
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(!bodyTimedOut())
        connection.cancel()
    }

    @Test func pipelinedHeadsPastTheirBytesAreRefused() {
        let connection = connection()
        connection.headRead(keepsAlive: true, headBytes: ConnectionState.maximumPendingHeadBytes)
        #expect(!connection.isRefusingRequests, "one head of the largest size is always taken")
        #expect(!connection.responseEndedClosesConnection(channel))
        connection.headRead(keepsAlive: true, headBytes: 30_000)
        connection.headRead(keepsAlive: true, headBytes: 30_000)
        #expect(!connection.isRefusingRequests)
        connection.headRead(keepsAlive: true, headBytes: 30_000)
        #expect(connection.isRefusingRequests, "90 KB of heads waiting")
        connection.cancel()
    }

    @Test func aChunkedBodyOfTinyChunksInOneReadIsRefused() {
        let connection = connection()
        connection.headRead(keepsAlive: true, headBytes: 100)
        connection.bytesArrived(channel)
        var refusedAt: Int?
        for part in 1 ... 1000 where refusedAt == nil {
            if !connection.bodyPartRead(bytes: 1) { refusedAt = part }
        }
        #expect(refusedAt == ConnectionState.chunksBeforeSizeCheck + 2, "the first part of a read is not extra")
        #expect(connection.isRefusingRequests && connection.currentResponseCloses)
        connection.cancel()
    }

    @Test func smallPartsEachInAReadOfTheirOwnAreNeverRefused() {
        let connection = connection()
        connection.headRead(keepsAlive: true, headBytes: 100)
        for _ in 0 ..< 10_000 {
            connection.bytesArrived(channel)
            #expect(connection.bodyPartRead(bytes: 1))
        }
        #expect(!connection.isRefusingRequests)
        connection.cancel()
    }

    @Test func chunksOfASaneSizeInOneReadAreNeverRefused() {
        let connection = connection()
        connection.headRead(keepsAlive: true, headBytes: 100)
        connection.bytesArrived(channel)
        for _ in 0 ..< 10_000 {
            #expect(connection.bodyPartRead(bytes: ConnectionState.minimumBytesPerChunk))
        }
        connection.cancel()
    }

    @Test func eachBodyIsCountedOnItsOwn() {
        let connection = connection()
        for _ in 0 ..< 3 {
            connection.headRead(keepsAlive: true, headBytes: 100)
            connection.bytesArrived(channel)
            for _ in 0 ... ConnectionState.chunksBeforeSizeCheck {
                #expect(connection.bodyPartRead(bytes: 1))
            }
            #expect(!connection.responseEndedClosesConnection(channel))
        }
        connection.cancel()
    }

    /// A connection of a listener at the cap of `pool`, opened as Hummingbird opens one: the pool
    /// counts it at accept, then the guards see it.
    func pooledConnection(_ pool: ConnectionPool) async throws -> (EmbeddedChannel, ConnectionState) {
        let channel = EmbeddedChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1))
        var counter = pool.delegate
        counter.connectionOpened()
        let connection = ConnectionState(
            headTimeout: .seconds(600), bodyTimeout: .seconds(600), writeTimeout: nil, pool: pool)
        connection.opened(channel)
        return (channel, connection)
    }

    /// The adversarial review's probe-port wedge: a client that closed before its answer's end
    /// was written had that connection noted as waiting once more; closed "to make room" later,
    /// it was never seen to close, and the pool stopped making room for good.
    @Test func anAnswerEndedAfterItsClientClosedLeavesThePoolMakingRoom() async throws {
        let pool = ConnectionPool(maximum: 2)
        let (gone, goneConnection) = try await pooledConnection(pool)
        goneConnection.headRead(keepsAlive: true, headBytes: 40)
        goneConnection.headArrived(gone)
        goneConnection.requestEnded()
        goneConnection.closed(gone)
        var counter = pool.delegate
        counter.connectionClosed()
        #expect(!goneConnection.responseEndedClosesConnection(gone))

        let (idle, idleConnection) = try await pooledConnection(pool)
        let (_, newest) = try await pooledConnection(pool)
        #expect(!idle.isActive, "at the cap, the idle connection makes room")
        idleConnection.cancel()
        newest.cancel()
    }
}
