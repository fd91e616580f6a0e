import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Wraps HTTP/1.1 child channels with guards below Hummingbird:
/// - a request head must be complete within `timeout` of the connection's accept, and of its
///   first byte after an answer: a client that sends nothing, or trickles its headers
///   (slowloris), is cut off then, while an idle keep-alive connection is left to the idle timeout;
/// - a request body must be complete within `bodyTimeout` of the first read that did not
///   complete it (for a request pipelined behind others, of the end of the answer before it):
///   its reader then gets `BodyTimedOut` (a loss request's answer is 408);
/// - a request whose head the HTTP parser rejects (over 80 KiB, a bad Content-Length, ...), or
///   that breaks a `RequestHeadRules` rule (Host, Transfer-Encoding), gets a problem+json 400,
///   431 or 501 before the connection closes, instead of an empty 400 or a routed request,
///   after the answers to the requests pipelined before it (a body the parser rejects, a bad
///   chunk size say, is the route's to answer);
/// - a request that does not keep the connection alive (HTTP/1.0 without keep-alive), or
///   whose route asked for it (`CloseConnectionAfterResponse`), has it closed once its
///   response is written;
/// - nothing is read from a client that does not read its answers (NIO's `BackPressureHandler`),
///   and a pipelined request past `ConnectionState`'s bounds is not read at all: the connection
///   closes after the answers before it, so unanswered requests cannot pile up in memory;
/// - a client that reads nothing of a response for `writeTimeout` is disconnected, so an
///   answer it never reads does not hold memory, a request slot or shutdown;
/// - the listener's `ConnectionPool` is told while the connection waits for a request: at the
///   connection cap, the one waiting longest is closed to make room.
///
/// It also adds the `ClientObserver` that tells a route when its client has gone, and when what
/// it wrote has reached the socket.
struct GuardedHTTPChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    let timeout: Duration
    let bodyTimeout: Duration
    let writeTimeout: Duration?
    /// The listener's connections (`ConnectionPool`): told which wait for a request.
    var pool: ConnectionPool?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        let connection = ConnectionState(
            headTimeout: TimeAmount(timeout), bodyTimeout: TimeAmount(bodyTimeout),
            writeTimeout: writeTimeout.map { TimeAmount($0) }, pool: pool)
        return channel.eventLoop.makeCompletedFuture {
            let operations = channel.pipeline.syncOperations
            try operations.addHandler(FirstByteObserver(connection: connection))
            try operations.addHandler(BackPressureHandler())
            try operations.addHandler(ClientObserver())
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }.flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let state = try operations.handler(type: HTTPConnectionStateHandler.self)
            try operations.addHandler(RequestHeadObserver(connection: connection), position: .after(state))
            let codec = try operations.handler(type: HTTP1ToHTTPServerCodec.self)
            try operations.addHandler(PipelineGuard(connection: connection), position: .before(codec))
            return value
        }
    }

    /// Handles the connection on its own event loop (`EventLoopTaskExecutor`); a loss request's
    /// heavy work still goes to the `WorkerPool`.
    func handle(value: Base.Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}

/// First in the pipeline (after TLS): starts the head deadline at accept, and notes every read
/// of raw bytes. Between bodies it hands the HTTP parser a read in slices, and drops the rest once
/// the connection reads no more (pipelined requests past the bounds, a parse error): the parser
/// would otherwise parse every request of a 64 KiB read only for them to be dropped.
private final class FirstByteObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    /// The most the parser is given at once between bodies.
    static let sliceBytes = 4096
    let connection: ConnectionState

    init(connection: ConnectionState) {
        self.connection = connection
    }

    func handlerAdded(context: ChannelHandlerContext) {
        connection.opened(context.channel)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.bytesArrived(context.channel)
        var bytes = unwrapInboundIn(data)
        while !connection.readsNoMore, bytes.readableBytes > 0 {
            guard !connection.isReadingBody, bytes.readableBytes > Self.sliceBytes,
                let slice = bytes.readSlice(length: Self.sliceBytes)
            else {
                context.fireChannelRead(wrapInboundOut(bytes))
                return
            }
            context.fireChannelRead(wrapInboundOut(slice))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.closed(context.channel)
        context.fireChannelInactive()
    }
}

/// After HTTP decoding: notes where each request and response starts and ends, and
/// answers parse errors.
final class RequestHeadObserver: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart
    let connection: ConnectionState

    init(connection: ConnectionState) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: connection.headArrived(context.channel)
        case .body: break
        case .end: connection.requestEnded()
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        connection.readCompleted(context.channel)
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.kind != .informational && connection.currentResponseCloses:
            head.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            let promise = connection.answerEnd(promise: promise, on: context.eventLoop)
            let closes = connection.responseEndedClosesConnection(context.channel)
            if let problem = connection.takeDeferredProblem() {
                context.write(data, promise: promise)
                answer(problem, context: context)
            } else if closes {
                closeAfterWriting(data, promise: promise, context: context)
            } else {
                context.write(data, promise: promise)
            }
        default:
            context.write(data, promise: promise)
        }
    }

    /// Nothing after a parse error or a refused head is read: the parser takes no more.
    func read(context: ChannelHandlerContext) {
        if !connection.stoppedParsing { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.writabilityChanged(context.channel)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is CloseConnectionAfterResponse else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        connection.closeAfterCurrentResponse()
    }

    /// A parse error between requests, or a refused head, is answered with a problem, once the
    /// requests read before it are answered, then the connection closes; a parse error inside a
    /// request's body goes on to the route, whose body reader answers it. The parser's
    /// complaints about bytes that follow its error, or a refused head, are dropped.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let refused = error as? RefusedHead {
            if connection.stopParsing(answering: refused.problem) { answer(refused.problem, context: context) }
        } else if let error = error as? HTTPParserError {
            guard !connection.stoppedParsing else { return }
            switch connection.routeParseError(error) {
            case .route: context.fireErrorCaught(error)
            case .answerNow: answer(Problem(error), context: context)
            case .deferred: break
            }
        } else if !(connection.stoppedParsing && error is ByteToMessageDecoderError) {
            context.fireErrorCaught(error)
        }
    }

    /// Writes `problem`, and closes the connection once it is written.
    private func answer(_ problem: Problem, context: ChannelHandlerContext) {
        let body = problem.body()
        var fields = problem.headers
        fields[.contentType] = "application/problem+json"
        fields[.contentLength] = String(body.readableBytes)
        fields[.connection] = "close"
        // No route ran to echo the client's id (its head was refused, or never parsed): a fresh one.
        fields[.requestID] = freshRequestID()
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

/// A head that breaks a `RequestHeadRules` rule, on its way to `RequestHeadObserver` to be
/// answered.
private struct RefusedHead: Error {
    var problem: Problem
}

/// Before HTTP/1 heads become version-less HTTP types: refuses a head that breaks a
/// `RequestHeadRules` rule (the connection reads no more, and its problem is the last answer),
/// and drops an HTTP/1.0 client's `Expect: 100-continue`; notes whether each request keeps
/// the connection alive (HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with keep-alive;
/// never a CONNECT); refuses a pipelined request past the bounds, and a chunked body whose
/// chunks are too small (see `ConnectionState`): the request, or the rest of the body, and
/// everything after it are dropped unread, and the connection reads no more.
private final class PipelineGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    let connection: ConnectionState

    init(connection: ConnectionState) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !connection.readsNoMore else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            if let problem = RequestHeadRules.refusal(of: head) {
                context.fireErrorCaught(RefusedHead(problem: problem))
                return
            }
            // NIO's encoder takes the connection after a CONNECT for a tunnel (no body framing):
            // whatever the answer, the connection closes after it.
            let keepsAlive = head.isKeepAlive && head.method != .CONNECT
            connection.headRead(keepsAlive: keepsAlive, headBytes: head.bytesAsSent)
            guard !connection.isRefusingRequests else { return }
            if let head = RequestHeadRules.droppingIgnoredExpectation(head) {
                context.fireChannelRead(wrapInboundOut(.head(head)))
                return
            }
        case .body(let part):
            guard connection.bodyPartRead(bytes: part.readableBytes) else {
                // The body's reader (the route's, or the drain after an early answer) stops at it.
                context.fireErrorCaught(
                    Problem(
                        .malformedRequest,
                        detail: "the chunked body comes in chunks too small: send chunks of at least "
                            + "\(ConnectionState.minimumBytesPerChunk) bytes"))
                return
            }
        case .end:
            break
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if !connection.isRefusingRequests { context.read() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !connection.isRefusingRequests else { return }
        context.fireErrorCaught(error)
    }
}

/// Returns once what was written to `channel` before the call has left the server's buffers for
/// the socket's, but for its high-water mark (64 KiB), or once the channel has closed: a writer
/// that awaits it between writes writes no faster than the client reads. (NIO's async writer
/// alone does not pace a fast writer: its writes reach the event loop after it has moved on.)
func writable(_ channel: any Channel) async {
    let waited = channel.eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
        guard channel.isActive, !channel.isWritable,
            let observer = try? channel.pipeline.syncOperations.handler(type: RequestHeadObserver.self)
        else { return channel.eventLoop.makeSucceededVoidFuture() }
        return observer.connection.whenWritable(channel)
    }
    try? await waited.get()
}

/// Fired into a connection's pipeline (`channel.pipeline.fireUserInboundEventTriggered`)
/// to close it once the response being written has ended.
struct CloseConnectionAfterResponse: Sendable {}
