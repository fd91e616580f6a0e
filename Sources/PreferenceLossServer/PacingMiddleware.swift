import HTTPTypes
import Hummingbird
import NIOCore

/// Serves a connection's requests no faster than its client reads the answers: a request is
/// handled once the answers before it have left the server's buffers (but for their 64 KiB
/// high-water mark), and an answer written in parts (`ResponseBody` with a closure: the loss's
/// 64 KiB slices) waits for that after each part. So a client that pipelines requests and
/// reads nothing holds at most one answer and 64 KiB in the server, and a loss answer that is
/// not read stays inside the request's memory reservation (`LossRoute`), not queued outside it.
struct PacingMiddleware: RouterMiddleware {
    typealias Context = LossRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let channel = context.channel
        // Without a hop to the event loop while the connection says it is writable: a stale yes
        // (an answer's last writes not yet on the channel) lets one request through early.
        if !channel.isWritable { await writable(channel) }
        var response = try await next(request, context)
        guard response.body.contentLength.map({ $0 > LossRoute.writeSliceBytes }) ?? true else { return response }
        let original = response.body
        response.body = ResponseBody(contentLength: original.contentLength) { writer in
            try await original.write(PacedWriter(base: writer, channel: channel))
        }
        return response
    }
}

/// Writes through to `base`, returning after each write once the connection is writable.
private struct PacedWriter: ResponseBodyWriter {
    var base: any ResponseBodyWriter
    let channel: any Channel

    mutating func write(_ buffer: ByteBuffer) async throws {
        try await base.write(buffer)
        await writable(channel)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await base.finish(trailingHeaders)
    }
}
