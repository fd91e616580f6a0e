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
        let id = request.headers[.requestID].flatMap { isPlausibleRequestID($0) ? $0 : nil } ?? freshRequestID()
        var context = context
        context.logger[metadataKey: "request_id"] = "\(id)"
        var response = try await next(request, context)
        response.headers[.requestID] = id
        return response
    }
}

/// 128 random bits as 32 hex digits, written straight into the string (formatting each half
/// with `String(_:radix:)` and padding it took five allocations).
func freshRequestID() -> String {
    var generator = SystemRandomNumberGenerator()
    let halves: [UInt64] = [generator.next(), generator.next()]
    return String(unsafeUninitializedCapacity: 32) { digits in
        for position in 0 ..< 32 {
            let shift = UInt64(60 - 4 * (position % 16))
            let nibble = UInt8(truncatingIfNeeded: halves[position / 16] >> shift) & 0xF
            digits[position] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
        }
        return 32
    }
}

extension HTTPField.Name {
    /// The request's id, from the client or made up (`RequestIDMiddleware`).
    static let requestID = HTTPField.Name("X-Request-Id")!
}
