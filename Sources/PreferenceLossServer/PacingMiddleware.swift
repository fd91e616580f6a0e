import HTTPTypes
import Hummingbird
import NIOCore

/// Serves a connection's requests no faster than its client reads the answers: a request is
/// handled once the answers before it have left the server's buffers (but for their 64 KiB
/// high-water mark), and an answer larger than `MemoryModel.writeAheadBytes` is written no
/// further than that ahead of its socket, and ends once all of it has reached the socket. So a
/// client that pipelines requests and reads nothing holds at most one large answer and 1 MiB in
/// the server, or one or two smaller answers (each written whole in one hand-over), and a loss
/// answer of more than a slice that is not read stays inside the request's memory reservation
/// (`LossRoute`), not queued outside it.
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
        guard response.body.contentLength.map({ $0 > MemoryModel.writeAheadBytes }) ?? true else { return response }
        let original = response.body
        response.body = ResponseBody(contentLength: original.contentLength) { writer in
            try await original.write(PacedWriter(base: writer, channel: channel))
        }
        return response
    }
}

/// Writes through to `base`, waiting for the socket to take what was written after every
/// `MemoryModel.writeAheadBytes`, and at the end: one hop to the event loop a megabyte, not one
/// a write.
private struct PacedWriter: ResponseBodyWriter {
    var base: any ResponseBodyWriter
    let channel: any Channel
    /// Bytes written since the socket last took everything.
    var aheadBytes = 0

    mutating func write(_ buffer: ByteBuffer) async throws {
        try await base.write(buffer)
        aheadBytes += buffer.readableBytes
        guard aheadBytes >= MemoryModel.writeAheadBytes else { return }
        await ClientObserver.written(channel)
        aheadBytes = 0
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await base.finish(trailingHeaders)
        await ClientObserver.written(channel)
    }
}
