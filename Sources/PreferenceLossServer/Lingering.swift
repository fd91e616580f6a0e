import HTTPTypes
import Hummingbird
import NIOCore

/// Makes sure every client sees its answer, even one given before its body was read
/// (401, 413, 415, 503, ...): the rest of the body is then read and thrown away, up to
/// `maximumBytes` and for at most `maximumTime`, before the response ends, as nginx's
/// lingering close does. Without it a client that sends its whole body before reading, as
/// Python's `requests` and `urllib` do, would get a reset, or hang once the server stopped
/// reading. The connection stays open when the body was drained to its end; it closes when
/// the drain was cut short, and after every 413 and 408 and a body that could not be read
/// (which say `Connection: close`).
struct LingeringMiddleware: RouterMiddleware {
    typealias Context = LossRequestContext
    let maximumBytes: Int
    let maximumTime: Duration

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let body = BodyStream(request.body)
        var context = context
        context.body = body
        var response = try await next(request, context)
        let hasBody =
            request.headers[.transferEncoding] != nil || (request.headers[.contentLength].flatMap { Int($0) } ?? 0) > 0
        let closes = response.status == .contentTooLarge || response.status == .requestTimeout || body.failed
        guard closes || (hasBody && !body.isFinished) else { return response }
        if closes { response.headers[.connection] = "close" }
        let original = response.body
        let lingering = Lingering(
            body: body, channel: context.channel, maximumBytes: maximumBytes, maximumTime: maximumTime, closes: closes)
        response.body = ResponseBody(contentLength: original.contentLength) { writer in
            try await original.write(LingeringWriter(base: writer, lingering: lingering))
        }
        return response
    }
}

/// Writes through to `base`, but drains the rest of the request body before the response ends.
private struct LingeringWriter: ResponseBodyWriter {
    var base: any ResponseBodyWriter
    let lingering: Lingering

    mutating func write(_ buffer: ByteBuffer) async throws {
        try await base.write(buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        await lingering.discardRestOfBody()
        try await base.finish(trailingHeaders)
    }
}

/// The rest of a request body that the server answered before reading.
private struct Lingering: Sendable {
    var body: BodyStream
    var channel: any Channel
    var maximumBytes: Int
    var maximumTime: Duration
    /// Whether the connection closes whether or not the body was drained to its end.
    var closes: Bool

    /// Discards the body within the bounds; when the connection is to close, or the body was
    /// not drained to its end, has the connection closed once the response is written.
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
        if closes || !body.isFinished { channel.pipeline.fireUserInboundEventTriggered(CloseConnectionAfterResponse()) }
    }
}
