import Hummingbird

/// Lets a request to a protected path through only with `Authorization: Bearer <token>`
/// naming an accepted token; otherwise answers 401 problem+json. The token is never logged.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: BearerTokens
    /// Whether a path needs a token (e.g. everything under `/v1/`).
    let isProtected: @Sendable (String) -> Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard isProtected(request.uri.path) else { return try await next(request, context) }
        guard let authorization = request.headers[.authorization] else {
            throw unauthorized("this route needs an Authorization: Bearer <token> header")
        }
        let scheme = "bearer "
        guard authorization.utf8.count > scheme.utf8.count, authorization.prefix(scheme.count).lowercased() == scheme else {
            throw unauthorized("the Authorization header must use the Bearer scheme")
        }
        guard tokens.accepts(authorization.utf8.dropFirst(scheme.utf8.count)) else {
            throw unauthorized("the bearer token is not accepted")
        }
        return try await next(request, context)
    }

    private func unauthorized(_ detail: String) -> Problem {
        Problem(status: .unauthorized, detail: detail, headers: [.wwwAuthenticate: #"Bearer realm="simpo-server""#])
    }
}
