import HTTPTypes
import Hummingbird
import PreferenceLossCodec

/// What a request's `Expect` asks of the server (RFC 9110 §10.1.1): `100-continue` is the only
/// expectation there is.
enum RequestExpectation: Equatable {
    /// No `Expect`, or one that lists nothing.
    case none
    /// `100-continue` (once or more, in any case): the client may wait for `100 Continue`
    /// before it sends the body.
    case `continue`
    /// Anything else: 417.
    case unmet

    init(_ value: String?) {
        let members = (value ?? "").split(separator: ",").map(trimmed).filter { !$0.isEmpty }
        if members.isEmpty {
            self = .none
        } else if members.allSatisfy({ $0.lowercased() == "100-continue" }) {
            self = .continue
        } else {
            self = .unmet
        }
    }
}

/// Answers 417 to a request whose `Expect` is not `100-continue`, on every route, before any
/// other check of the request (the `/v1` token's included).
struct ExpectationMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let value = request.headers[.expect]
        guard RequestExpectation(value) == .unmet, let value else { return try await next(request, context) }
        throw Problem(.expectationFailed, detail: "the only expectation served is 100-continue, not \(echo(value))")
    }
}

/// `member` without the optional whitespace (SP, HTAB) around it.
private func trimmed(_ member: Substring) -> Substring {
    let isWhitespace = { (character: Character) in character == " " || character == "\t" }
    guard let first = member.firstIndex(where: { !isWhitespace($0) }),
        let last = member.lastIndex(where: { !isWhitespace($0) })
    else { return "" }
    return member[first ... last]
}
