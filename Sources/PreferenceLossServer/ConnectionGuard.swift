import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Wraps HTTP/1.1 child channels with four guards below Hummingbird:
/// - a request head must be complete within `timeout` of its first byte: a client that
///   trickles its headers (slowloris) is cut off then, while an idle keep-alive
///   connection is left to the idle timeout;
/// - a request whose head the HTTP parser rejects (over 80 KiB, a bad Content-Length, ...)
///   gets a problem+json 400 or 431 before the connection closes, instead of an empty 400
///   (a body it rejects, a bad chunk size say, is the route's to answer);
/// - a request that does not keep the connection alive (HTTP/1.0 without keep-alive), or
///   whose route asked for it (`CloseConnectionAfterResponse`), has it closed once its
///   response is written;
/// - a client that reads nothing of a response for `writeTimeout` is disconnected, so an
///   answer it never reads does not hold memory, a request slot or shutdown.
///
/// It also adds the `ClientObserver` that tells a route when its client has gone, and when what
/// it wrote has reached the socket.
struct GuardedHTTPChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    let timeout: Duration
    let writeTimeout: Duration?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        let connection = ConnectionState(
            headTimeout: TimeAmount(timeout), writeTimeout: writeTimeout.map { TimeAmount($0) })
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandlers(
                FirstByteObserver(connection: connection), ClientObserver())
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }.flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let state = try operations.handler(type: HTTPConnectionStateHandler.self)
            try operations.addHandler(RequestHeadObserver(connection: connection), position: .after(state))
            let codec = try operations.handler(type: HTTP1ToHTTPServerCodec.self)
            try operations.addHandler(KeepAliveObserver(connection: connection), position: .before(codec))
            return value
        }
    }

    func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// What the observers know of the connection: the head deadline, where requests and
/// responses start and end, and whether to close after the response (all on its event loop).
private final class ConnectionState: @unchecked Sendable {  // used only on its channel's event loop
    let timeout: TimeAmount
    let writeTimeout: TimeAmount?
    private var scheduled: Scheduled<Void>?
    private var writeStall: Scheduled<Void>?
    private var requestOpen = false
    private var responseOpen = false
    /// For each request read and not yet answered, in order: whether it keeps the connection
    /// alive (pipelined requests each have their own).
    private var keepsAlive: [Bool] = []

    init(headTimeout: TimeAmount, writeTimeout: TimeAmount?) {
        timeout = headTimeout
        self.writeTimeout = writeTimeout
    }

    /// The client stopped reading (or started again) while a response is being written.
    func writabilityChanged(_ context: ChannelHandlerContext) {
        writeStall?.cancel()
        writeStall = nil
        guard let writeTimeout, responseOpen, !context.channel.isWritable else { return }
        let channel = context.channel
        writeStall = context.eventLoop.scheduleTask(in: writeTimeout) { channel.close(promise: nil) }
    }

    /// The route asked that the connection close once the current response is written.
    func closeAfterCurrentResponse() {
        if keepsAlive.isEmpty { keepsAlive.append(false) } else { keepsAlive[0] = false }
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

    func requestHeadRead(keepsAlive: Bool) { self.keepsAlive.append(keepsAlive) }

    /// Whether the response that just ended was the last the connection may carry.
    func responseEndedClosesConnection() -> Bool {
        responseOpen = false
        return keepsAlive.isEmpty ? false : !keepsAlive.removeFirst()
    }

    /// Whether a response has started and not ended.
    var isResponding: Bool { responseOpen }

    func cancel() {
        scheduled?.cancel()
        scheduled = nil
        writeStall?.cancel()
        writeStall = nil
    }
}

/// First in the pipeline (after TLS): notes every read of raw bytes.
private final class FirstByteObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let connection: ConnectionState

    init(connection: ConnectionState) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.bytesArrived(context)
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.cancel()
        context.fireChannelInactive()
    }
}

/// After HTTP decoding: notes where each request and response starts and ends, and
/// answers parse errors.
private final class RequestHeadObserver: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart
    let connection: ConnectionState

    init(connection: ConnectionState) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: connection.headArrived()
        case .body: break
        case .end: connection.requestEnded()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        guard connection.responseEndedClosesConnection() else {
            context.write(data, promise: promise)
            return
        }
        closeAfterWriting(data, promise: promise, context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.writabilityChanged(context)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is CloseConnectionAfterResponse else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        connection.closeAfterCurrentResponse()
    }

    /// A parse error between requests is answered here with a problem, then the connection
    /// closes; one inside a request's body goes on to the route, whose body reader answers it.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? HTTPParserError, !connection.isResponding else {
            context.fireErrorCaught(error)
            return
        }
        let problem = Problem(error)
        let body = problem.body()
        var fields = problem.headers
        fields[.contentType] = "application/problem+json"
        fields[.contentLength] = String(body.readableBytes)
        fields[.connection] = "close"
        context.write(wrapOutboundOut(.head(HTTPResponse(status: problem.status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        closeAfterWriting(wrapOutboundOut(.end(nil)), promise: nil, context: context)
    }

    /// Writes and flushes `data`, and closes the connection once it is written: closing
    /// earlier would drop a large response that is still queued.
    private func closeAfterWriting(_ data: NIOAny, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        let written = context.eventLoop.makePromise(of: Void.self)
        let channel = context.channel
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        promise.map { written.futureResult.cascade(to: $0) }
        context.writeAndFlush(data, promise: written)
    }
}

/// Before HTTP/1 heads become version-less HTTP types: notes whether each request keeps
/// the connection alive (HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with keep-alive;
/// never a CONNECT).
private final class KeepAliveObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    let connection: ConnectionState

    init(connection: ConnectionState) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            // NIO's encoder takes the connection after a CONNECT for a tunnel (no body framing):
            // whatever the answer, the connection closes after it.
            connection.requestHeadRead(keepsAlive: head.isKeepAlive && head.method != .CONNECT)
        }
        context.fireChannelRead(data)
    }
}

/// Fired into a connection's pipeline (`channel.pipeline.fireUserInboundEventTriggered`)
/// to close it once the response being written has ended.
struct CloseConnectionAfterResponse: Sendable {}
