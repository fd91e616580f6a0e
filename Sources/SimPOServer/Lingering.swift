import Hummingbird
import NIOCore

/// The rest of a request body that the server answered before reading: read and thrown
/// away, up to `maximumBytes` and for at most `maximumTime`, then the connection closes
/// (as nginx's lingering close does). A client that sends its whole body before reading,
/// as Python's `requests` and `urllib` do, thus gets the answer instead of a reset.
struct Lingering: Sendable {
    var body: BodyStream
    var channel: any Channel
    var maximumBytes: Int
    var maximumTime: Duration

    /// Discards the body within the bounds, then closes the connection's input side, which
    /// ends the connection once the response is written.
    func discardRestOfBody() async {
        let body = body
        let maximumBytes = maximumBytes
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var discarded = 0
                do {
                    while let chunk = try await body.next() {
                        discarded += chunk.readableBytes
                        if discarded >= maximumBytes { return }
                    }
                } catch {}
            }
            group.addTask { try? await Task.sleep(for: maximumTime) }
            await group.next()
            group.cancelAll()
        }
        channel.close(mode: .input, promise: nil)
    }
}
