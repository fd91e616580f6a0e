import HTTPTypes
import HeaderGrammar
import Hummingbird

/// Gives every request an id: the client's `X-Request-Id` when it is a plausible id
/// (1 to 128 letters, digits and `-._:`), else a fresh random one. The id goes into
/// every log line for the request (`request_id`) and back to the client in the response.
struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let id = request.headers[.requestID].flatMap { isPlausibleRequestID($0) ? $0 : nil } ?? randomID()
        var context = context
        context.logger[metadataKey: "request_id"] = "\(id)"
        var response = try await next(request, context)
        response.headers[.requestID] = id
        return response
    }
}

/// 128 random bits as 32 hex digits.
private func randomID() -> String {
    let high = String(UInt64.random(in: .min ... .max), radix: 16)
    let low = String(UInt64.random(in: .min ... .max), radix: 16)
    return String(repeating: "0", count: 16 - high.count) + high + String(repeating: "0", count: 16 - low.count) + low
}

extension HTTPField.Name {
    /// The request's id, from the client or made up (`RequestIDMiddleware`).
    static let requestID = HTTPField.Name("X-Request-Id")!
}
