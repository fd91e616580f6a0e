import Hummingbird
import NIOCore
import NIOHTTP1

/// Reads a request body into one buffer, within a size limit, the connection's time limit
/// (`ConnectionState`'s body deadline: a stalled body is cut off whether or not more bytes
/// arrive), and a memory reservation that must grow with every chunk.
struct RequestBodyReader: Sendable {
    let maximumBodySize: Int
    /// The connection's body time limit, for the 408's detail.
    let timeout: Duration
    /// The most a declared length allocates before its bytes arrive.
    static let preallocatedBytes = 8 << 20

    /// The whole body of the request with `padding` writable bytes spare after it;
    /// sized from the declared length (up to `preallocatedBytes`) so that it is rarely regrown.
    ///
    /// - Parameter hold: called before each chunk is kept with the body bytes the request
    ///   will then hold; it throws the problem that refuses them, and may wait for room.
    /// - Throws: 413 past the size limit, 408 past the time limit, what `hold` throws, 400 for
    ///   a body the HTTP parser rejects (a bad chunk size) or one the client cut off.
    func read(
        _ body: BodyStream, declaredLength: Int?, padding: Int,
        hold: @escaping @Sendable (Int) async throws(Problem) -> Void
    ) async throws(Problem) -> ByteBuffer {
        let capacity = min(max(0, declaredLength ?? 0), maximumBodySize, Self.preallocatedBytes)
        do {
            var buffer = ByteBufferAllocator().buffer(capacity: capacity + padding)
            while let chunk = try await body.next() {
                guard chunk.readableBytes <= maximumBodySize - buffer.readableBytes else {
                    throw Problem.bodyTooLarge(limit: maximumBodySize)
                }
                try await hold(buffer.readableBytes + chunk.readableBytes)
                buffer.writeImmutableBuffer(chunk)
            }
            buffer.reserveCapacity(minimumWritableBytes: padding)
            return buffer
        } catch let problem as Problem {
            throw problem
        } catch is BodyTimedOut {
            throw Problem(.requestTimeout, detail: "the request body took longer than \(timeout) to arrive")
        } catch let error as HTTPParserError where error != .invalidEOFState {
            throw Problem(error)
        } catch {
            // The client went away mid-body (or the idle timeout closed the connection).
            throw Problem(.incompleteBody, detail: "the connection closed before the request body was complete")
        }
    }
}

/// The error a body's reader gets from its next chunk once the body's time is up.
struct BodyTimedOut: Error {
    /// Ends the request parts that `channel` hands on with this error, if a body is still being
    /// read (the timer may fire just as the body's reader is done); on the event loop.
    static func interrupt(_ channel: any Channel) {
        guard let observer = try? channel.pipeline.syncOperations.context(handlerType: RequestHeadObserver.self),
            let handler = observer.handler as? RequestHeadObserver, handler.connection.isReadingBody
        else { return }
        observer.fireErrorCaught(BodyTimedOut())
    }
}
