import NIOEmbedded
import Testing

@testable import PreferenceLossServer

/// The bounds `GuardedHTTPChannel` keeps per connection, on `ConnectionState` itself: what
/// arrives in one read, and what is answered when, is the test's to say here.
@Suite struct ConnectionStateTests {
    let channel = EmbeddedChannel()

    func connection() -> ConnectionState {
        let connection = ConnectionState(headTimeout: .seconds(600), writeTimeout: nil)
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
}
