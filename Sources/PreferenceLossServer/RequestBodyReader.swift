import Hummingbird
import NIOCore
import NIOHTTP1

/// Reads a request body into one buffer, within a size limit, a time limit enforced by a
/// timer (a stalled body is cut off whether or not more bytes arrive), and a memory
/// reservation that must grow with every chunk.
struct RequestBodyReader: Sendable {
    let maximumBodySize: Int
    let timeout: Duration
    /// The most a declared length allocates before its bytes arrive.
    static let preallocatedBytes = 8 << 20

    /// The whole body with `padding` writable bytes spare after it; sized from the
    /// declared length (up to `preallocatedBytes`) so that it is rarely regrown.
    ///
    /// - Parameter hold: called before each chunk is kept with the body bytes the request
    ///   will then hold; it throws the problem that refuses them, and may wait for room.
    /// - Throws: 413 past the size limit, 408 past the time limit, what `hold` throws, 400 for
    ///   a body the HTTP parser rejects (a bad chunk size) or one the client cut off.
    func read(
        _ body: BodyStream, declaredLength: Int?, padding: Int,
        hold: @escaping @Sendable (Int) async throws(Problem) -> Void
    ) async throws(Problem) -> ByteBuffer {
        let maximumBodySize = maximumBodySize
        let capacity = min(max(0, declaredLength ?? 0), maximumBodySize, Self.preallocatedBytes)
        do {
            return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                group.addTask {
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
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let buffer = first else {
                    throw Problem(.requestTimeout, detail: "the request body took longer than \(timeout) to arrive")
                }
                return buffer
            }
        } catch let problem as Problem {
            throw problem
        } catch let error as HTTPParserError where error != .invalidEOFState {
            throw Problem(error)
        } catch {
            // The client went away mid-body (or the idle timeout closed the connection).
            throw Problem(.incompleteBody, detail: "the connection closed before the request body was complete")
        }
    }
}
