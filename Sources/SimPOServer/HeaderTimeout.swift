import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Wraps HTTP/1.1 child channels so that a request head must be complete within
/// `timeout` of its first byte: a client that trickles its headers (slowloris) is cut
/// off then, while an idle keep-alive connection is left to the idle timeout.
struct HeaderTimeoutChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    let timeout: Duration

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        let deadline = HeadDeadline(timeout: TimeAmount(timeout))
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(FirstByteObserver(deadline: deadline))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }.flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let state = try operations.handler(type: HTTPConnectionStateHandler.self)
            try operations.addHandler(RequestHeadObserver(deadline: deadline), position: .after(state))
            return value
        }
    }

    func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// The connection's head deadline, shared by the two observers (both on its event loop).
private final class HeadDeadline: @unchecked Sendable {  // used only on its channel's event loop
    let timeout: TimeAmount
    private var scheduled: Scheduled<Void>?
    private var requestOpen = false
    private var responseOpen = false

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    /// Bytes arrived: between requests they start a head, which must be done in time.
    func bytesArrived(_ context: ChannelHandlerContext) {
        guard !requestOpen, !responseOpen, scheduled == nil else { return }
        let channel = context.channel
        scheduled = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func headArrived() {
        requestOpen = true
        responseOpen = true
        scheduled?.cancel()
        scheduled = nil
    }

    func requestEnded() { requestOpen = false }
    func responseEnded() { responseOpen = false }

    func cancel() {
        scheduled?.cancel()
        scheduled = nil
    }
}

/// First in the pipeline (after TLS): notes every read of raw bytes.
private final class FirstByteObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let deadline: HeadDeadline

    init(deadline: HeadDeadline) {
        self.deadline = deadline
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deadline.bytesArrived(context)
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline.cancel()
        context.fireChannelInactive()
    }
}

/// After HTTP decoding: notes where each request and response starts and ends.
private final class RequestHeadObserver: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    let deadline: HeadDeadline

    init(deadline: HeadDeadline) {
        self.deadline = deadline
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: deadline.headArrived()
        case .body: break
        case .end: deadline.requestEnded()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { deadline.responseEnded() }
        context.write(data, promise: promise)
    }
}
