import CoreMetrics
import Hummingbird
import Synchronization

/// Bounds the requests, and the request-body bytes, that the server holds at once.
final class LoadShedder: Sendable {
    private struct Usage {
        var requests = 0
        var bytes = 0
    }

    private let usage = Mutex(Usage())
    let maximumRequests: Int
    let maximumBytes: Int

    init(maximumRequests: Int, maximumBytes: Int) {
        self.maximumRequests = maximumRequests
        self.maximumBytes = maximumBytes
    }

    /// Reserves room for a request with a body of `bytes`; false when it would not fit.
    func admit(bytes: Int) -> Bool {
        usage.withLock { usage in
            guard usage.requests < maximumRequests, bytes <= maximumBytes - usage.bytes else { return false }
            usage.requests += 1
            usage.bytes += bytes
            return true
        }
    }

    /// Returns what `admit(bytes:)` reserved.
    func release(bytes: Int) {
        usage.withLock { usage in
            usage.requests -= 1
            usage.bytes -= bytes
        }
    }
}

/// Answers 503 with `Retry-After` instead of growing memory: a request that would take the
/// server past its bounds is refused before its body is read. A body's size is taken from
/// Content-Length, or assumed to be the largest allowed when the length is not declared.
struct LoadSheddingMiddleware<Context: RequestContext>: RouterMiddleware {
    let shedder: LoadShedder
    let maximumBodySize: Int
    let shed: Counter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post else { return try await next(request, context) }
        let declared = request.headers[.contentLength].flatMap(Int.init) ?? maximumBodySize
        let bytes = min(max(declared, 0), maximumBodySize)
        guard shedder.admit(bytes: bytes) else {
            shed.increment()
            throw Problem(
                status: .serviceUnavailable,
                detail: "the server is at capacity (\(shedder.maximumRequests) requests or \(shedder.maximumBytes) body bytes in flight); retry shortly",
                headers: [.retryAfter: "1"])
        }
        defer { shedder.release(bytes: bytes) }
        return try await next(request, context)
    }
}
