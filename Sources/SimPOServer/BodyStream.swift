import Hummingbird
import NIOCore

/// A request body's one iterator (Hummingbird lets a body be iterated once), shared by the
/// steps that read it in turn: the body reader, then the lingering drain after an early answer.
/// The steps never overlap: each finishes (its tasks awaited) before the next begins.
final class BodyStream: @unchecked Sendable {
    private var iterator: RequestBody.AsyncIterator

    init(_ body: RequestBody) {
        iterator = body.makeAsyncIterator()
    }

    /// The next chunk; nil at the end of the body.
    func next() async throws -> ByteBuffer? {
        try await iterator.next()
    }
}
