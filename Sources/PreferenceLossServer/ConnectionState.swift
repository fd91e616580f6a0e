import NIOCore
import NIOHTTP1

/// What the connection guards (`GuardedHTTPChannel`) know of one connection: the head and body
/// deadlines, the requests read and not yet answered, and whether to close after an answer. Used
/// only on the connection's event loop.
final class ConnectionState: @unchecked Sendable {
    /// The most requests a connection may have read and not yet answered (pipelined).
    static let maximumPendingRequests = 16
    /// The most bytes of request heads (as sent) those requests may hold: one head of NIO's
    /// largest, 80 KiB, is always taken.
    static let maximumPendingHeadBytes = 80 * 1024
    /// A chunked body may have this many body parts beyond one per read of the connection
    /// (each a chunk: what NIO hands on in a part of its own, at a cost of its own); past them,
    /// it must average `minimumBytesPerChunk` bytes per such part.
    static let chunksBeforeSizeCheck = 64
    static let minimumBytesPerChunk = 256

    /// A request read and not yet answered.
    private struct Pending {
        /// Whether the connection stays open after its answer.
        var keepsAlive: Bool
        var headBytes: Int
    }

    let timeout: TimeAmount
    let bodyTimeout: TimeAmount
    let writeTimeout: TimeAmount?
    /// The listener's connections, told when this one waits for a request and when not.
    let pool: ConnectionPool?
    private var headDeadline: Scheduled<Void>?
    /// Set while the body of the request being answered is still arriving after a read.
    private var bodyDeadline: Scheduled<Void>?
    private var writeStall: Scheduled<Void>?
    /// Writers waiting for the connection to be writable again (`writable(_:)`).
    private var writableWaiters: [EventLoopPromise<Void>] = []
    private var requestOpen = false
    /// In order: pipelined requests each have their own.
    private var pending: [Pending] = []
    /// Set once a pipelined request past the bounds arrived: nothing more is read; the
    /// connection closes after the answers to the requests before it.
    private(set) var isRefusingRequests = false
    /// The answer to a parse error or a refused head that came while earlier requests were
    /// still being answered.
    private var deferredProblem: Problem?
    /// Set once the HTTP parser failed, or a head was refused (`RequestHeadRules`): what follows
    /// on the connection is not read.
    private(set) var stoppedParsing = false
    /// Whether nothing more that arrives is to be parsed: requests are refused, or parsing stopped.
    var readsNoMore: Bool { isRefusingRequests || stoppedParsing }
    /// Whether a request's head has been read and its body not yet to its end.
    var isReadingBody: Bool { requestOpen }
    /// Reads of raw bytes, and the one the request body's last part came in.
    private var reads = 0
    private var lastBodyPartRead = 0
    /// The body being read: its bytes, and its parts beyond one per read.
    private var bodyBytes = 0
    private var extraBodyParts = 0
    /// Set once the connection closed: it no longer waits for anything, though an answer's end
    /// may still be written to it.
    private var isClosed = false
    /// The memory reservation of the answer being handed over, given back once its end has
    /// reached the socket (`releaseOnceAnswered`).
    private var answerReservation: Reservation?

    init(headTimeout: TimeAmount, bodyTimeout: TimeAmount, writeTimeout: TimeAmount?, pool: ConnectionPool? = nil) {
        timeout = headTimeout
        self.bodyTimeout = bodyTimeout
        self.writeTimeout = writeTimeout
        self.pool = pool
    }

    /// The connection was accepted: its first request head must be complete in time, so a
    /// connection that sends nothing does not hold a place until the idle timeout; until then
    /// it waits for a request.
    func opened(_ channel: any Channel) {
        startHeadDeadline(channel)
        pool?.waiting(channel, afterAnswer: false)
    }

    /// Bytes arrived: between requests they start a head, which must be done in time.
    func bytesArrived(_ channel: any Channel) {
        reads += 1
        guard !requestOpen, pending.isEmpty else { return }
        startHeadDeadline(channel)
    }

    private func startHeadDeadline(_ channel: any Channel) {
        guard headDeadline == nil else { return }
        headDeadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    /// A request head was parsed, `headBytes` long as sent. A pipelined one past the bounds is
    /// refused: the connection is to close after the answers to the requests before it, and
    /// reads no more.
    func headRead(keepsAlive: Bool, headBytes: Int) {
        guard !isRefusingRequests else { return }
        let heldBytes = pending.reduce(0) { $0 + $1.headBytes }
        if let last = pending.indices.last,
            pending.count >= Self.maximumPendingRequests || headBytes > Self.maximumPendingHeadBytes - heldBytes
        {
            pending[last].keepsAlive = false
            isRefusingRequests = true
        } else {
            pending.append(Pending(keepsAlive: keepsAlive, headBytes: headBytes))
            bodyBytes = 0
            extraBodyParts = 0
        }
    }

    /// A part of the body being read arrived, `bytes` long; false once the body comes in chunks
    /// too small: the connection is then to close after the request's answer, and reads no more.
    func bodyPartRead(bytes: Int) -> Bool {
        bodyBytes += bytes
        if lastBodyPartRead == reads { extraBodyParts += 1 }
        lastBodyPartRead = reads
        guard extraBodyParts > Self.chunksBeforeSizeCheck, bodyBytes / extraBodyParts < Self.minimumBytesPerChunk
        else { return true }
        if let last = pending.indices.last { pending[last].keepsAlive = false }
        isRefusingRequests = true
        return false
    }

    /// The head passed on to the route: its deadline is met.
    func headArrived(_ channel: any Channel) {
        pool?.busy(channel)
        requestOpen = true
        headDeadline?.cancel()
        headDeadline = nil
    }

    func requestEnded() {
        requestOpen = false
        bodyDeadline?.cancel()
        bodyDeadline = nil
    }

    /// A read's parts are handed on. A body still arriving then for the request being answered
    /// (none before it waits for its answer) must be complete in time: a body that comes whole
    /// with its head, in one read, never starts a timer.
    func readCompleted(_ channel: any Channel) { startBodyDeadline(channel) }

    /// Times the body of the request being answered, if it is still arriving and the connection
    /// reads: while an answer before it waits for the client to read it, nothing more is read
    /// (back pressure), so the clock starts once the channel is writable again.
    private func startBodyDeadline(_ channel: any Channel) {
        guard bodyDeadline == nil, requestOpen, pending.count == 1, channel.isWritable else { return }
        bodyDeadline = channel.eventLoop.scheduleTask(in: bodyTimeout) { BodyTimedOut.interrupt(channel) }
    }

    /// The route asked that the connection close once the current response is written.
    func closeAfterCurrentResponse() {
        if pending.isEmpty {
            pending.append(Pending(keepsAlive: false, headBytes: 0))
        } else {
            pending[0].keepsAlive = false
        }
    }

    /// Whether the response being written is the last the connection carries.
    var currentResponseCloses: Bool { pending.first.map { !$0.keepsAlive } ?? false }

    /// Whether the response that just ended was the last the connection may carry; when it was
    /// not, and no other request is read, the connection waits for one (and may be the one the
    /// pool closes to make room).
    func responseEndedClosesConnection(_ channel: any Channel) -> Bool {
        let closes = pending.isEmpty ? false : !pending.removeFirst().keepsAlive
        startBodyDeadline(channel)
        guard !closes, !isClosed, pending.isEmpty, !requestOpen, deferredProblem == nil, let pool else {
            return closes
        }
        return pool.waiting(channel, afterAnswer: true)
    }

    /// The problem to answer now that every request before it is answered, if any.
    func takeDeferredProblem() -> Problem? {
        guard pending.isEmpty, let problem = deferredProblem else { return nil }
        deferredProblem = nil
        return problem
    }

    /// Where a parse error goes.
    enum ParseErrorRoute {
        /// Into the body being read: the route's body reader answers it.
        case route
        /// Answered now: no request is open or waiting for its answer.
        case answerNow
        /// Answered after the answers to the requests read before it.
        case deferred
    }

    func routeParseError(_ error: HTTPParserError) -> ParseErrorRoute {
        guard !requestOpen else {
            stoppedParsing = true
            return .route
        }
        return stopParsing(answering: Problem(error)) ? .answerNow : .deferred
    }

    /// Nothing more is parsed, and `problem` is the connection's last answer, once the requests
    /// read before it are answered: true when that is now, else `takeDeferredProblem()` hands
    /// it over after their answers.
    func stopParsing(answering problem: Problem) -> Bool {
        stoppedParsing = true
        guard !pending.isEmpty else { return true }
        deferredProblem = problem
        return false
    }

    /// Succeeds once the channel is writable again, or closed.
    func whenWritable(_ channel: any Channel) -> EventLoopFuture<Void> {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        writableWaiters.append(promise)
        return promise.futureResult
    }

    private func releaseWriters() {
        let waiters = writableWaiters
        writableWaiters = []
        for waiter in waiters { waiter.succeed() }
    }

    /// The client stopped reading (or started again) while a response is being written.
    func writabilityChanged(_ channel: any Channel) {
        writeStall?.cancel()
        writeStall = nil
        if channel.isWritable {
            releaseWriters()
            startBodyDeadline(channel)
        }
        guard let writeTimeout, !pending.isEmpty, !channel.isWritable else { return }
        writeStall = channel.eventLoop.scheduleTask(in: writeTimeout) { channel.close(promise: nil) }
    }

    /// The connection closed.
    func closed(_ channel: any Channel) {
        isClosed = true
        pool?.busy(channel)
        cancel()
        answerReservation?.release()
        answerReservation = nil
    }

    /// Has the connection of `channel` give `reservation` back once the answer the caller is
    /// about to hand over has reached the socket, so that the caller need not wait for it: this
    /// reaches the connection's event loop before that answer's parts do. A connection that has
    /// closed, or whose handlers are gone, gives it back at once.
    static func releaseOnceAnswered(_ reservation: Reservation, on channel: any Channel) {
        let hold = {
            guard let observer = try? channel.pipeline.syncOperations.handler(type: RequestHeadObserver.self) else {
                reservation.release()
                return
            }
            observer.connection.hold(reservation)
        }
        if channel.eventLoop.inEventLoop { hold() } else { channel.eventLoop.execute(hold) }
    }

    /// Holds `reservation` until the end of the answer being handed over is written, or gives it
    /// back at once when the connection has closed.
    func hold(_ reservation: Reservation) {
        answerReservation?.release()
        answerReservation = isClosed ? nil : reservation
        if isClosed { reservation.release() }
    }

    /// The promise to write an answer's end with (`promise`, or one made when nil), which gives
    /// back the reservation held for the answer, if any, once that end has reached the socket or
    /// failed to.
    func answerEnd(promise: EventLoopPromise<Void>?, on eventLoop: any EventLoop) -> EventLoopPromise<Void>? {
        guard let reservation = answerReservation else { return promise }
        answerReservation = nil
        let ended = promise ?? eventLoop.makePromise()
        ended.futureResult.whenComplete { _ in reservation.release() }
        return ended
    }

    /// Cancels the timers and lets writers waiting for writability go.
    func cancel() {
        releaseWriters()
        headDeadline?.cancel()
        headDeadline = nil
        bodyDeadline?.cancel()
        bodyDeadline = nil
        writeStall?.cancel()
        writeStall = nil
    }
}

extension HTTPRequestHead {
    /// The head's length as sent, near enough (line breaks and separators included).
    var bytesAsSent: Int {
        headers.reduce(method.rawValue.utf8.count + uri.utf8.count + 13) { sum, field in
            sum + field.name.utf8.count + field.value.utf8.count + 4
        }
    }
}
