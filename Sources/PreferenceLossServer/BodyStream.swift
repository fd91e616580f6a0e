import Hummingbird
import NIOCore

/// A request body's one iterator (Hummingbird lets a body be iterated once), shared by the
/// steps that read it in turn: a route, then `LingeringMiddleware` after an early answer.
/// The steps never overlap: each finishes (its tasks awaited) before the next begins.
final class BodyStream: @unchecked Sendable {
    private var iterator: RequestBody.AsyncIterator
    /// Whether the body was read to its end.
    private(set) var isFinished = false
    /// Whether reading it failed (broken framing, or the client went away).
    private(set) var failed = false

    init(_ body: RequestBody) {
        iterator = body.makeAsyncIterator()
    }

    /// The next chunk; nil at the end of the body.
    func next() async throws -> ByteBuffer? {
        do {
            let chunk = try await iterator.next()
            if chunk == nil { isFinished = true }
            return chunk
        } catch {
            failed = true
            throw error
        }
    }
}
