import NIOCore
import PreferenceLoss

/// Sets the cancellation flag of a connection's request once its client has gone: the
/// connection closed, or the client shut down its sending side after the request (which, as
/// nginx counts it, is a client that no longer waits for the answer). Hummingbird does not
/// cancel a handler whose connection closes; this lets the route stop its work.
///
/// First in the pipeline (after TLS), so that it sees the end of input before HTTP decoding.
final class DisconnectObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
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
}

/// The event by which a route hands its request's flag to the connection's `DisconnectObserver`.
private struct WatchForDisconnect: Sendable {
    let flag: CancellationFlag
}
