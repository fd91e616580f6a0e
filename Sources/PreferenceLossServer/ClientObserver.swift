import NIOCore
import PreferenceLoss

/// What a route learns of its client below HTTP: whether the client has gone, and when the
/// bytes written so far have reached the socket.
///
/// A client has gone once the connection closed, or once it shut down its sending side after
/// the request (which, as nginx counts it, is a client that no longer waits for the answer).
/// Hummingbird does not cancel a handler whose connection closes; the flag this sets lets the
/// route stop its work.
///
/// First in the pipeline (after TLS), so that it sees the end of input before HTTP decoding,
/// and so that a write from it follows every byte the layers above have written.
final class ClientObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    /// Whether the client has gone.
    private var gone = false
    /// The flag of the request being worked on.
    private var watched: CancellationFlag?

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let watch = event as? WatchForDisconnect {
            watched = watch.flag
            if gone { watch.flag.cancel() }
            return
        }
        if case .inputClosed = event as? ChannelEvent { clientLeft() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        clientLeft()
        context.fireChannelInactive()
    }

    private func clientLeft() {
        gone = true
        watched?.cancel()
    }

    /// Asks the observer of `channel` to set `flag` once the client has gone (at once if it has).
    static func watch(_ channel: any Channel, setting flag: CancellationFlag) {
        channel.pipeline.fireUserInboundEventTriggered(WatchForDisconnect(flag: flag))
    }

    /// Returns once every byte written to `channel` before the call has been written to its
    /// socket (or the connection has closed): an empty write from the observer completes after
    /// the writes ahead of it, which the event loop takes in order.
    static func written(_ channel: any Channel) async {
        let done = channel.eventLoop.flatSubmit {
            let promise = channel.eventLoop.makePromise(of: Void.self)
            do {
                let context = try channel.pipeline.syncOperations.context(handlerType: ClientObserver.self)
                context.writeAndFlush(NIOAny(ByteBuffer()), promise: promise)
            } catch {
                promise.fail(error)
            }
            return promise.futureResult
        }
        try? await done.get()
    }
}

/// The event by which a route hands its request's flag to the connection's `ClientObserver`.
private struct WatchForDisconnect: Sendable {
    let flag: CancellationFlag
}
