import HeaderGrammar
import Hummingbird

/// Lets a request through only with `Authorization: Bearer <token>` naming an accepted
/// token; otherwise answers 401 problem+json. Added to the protected route groups, so it
/// guards routes, not path spellings. The token is never logged.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: BearerTokens

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let authorization = request.headers[.authorization] else {
            throw unauthorized("this route needs an Authorization: Bearer <token> header")
        }
        guard let token = bearerToken(in: authorization) else {
            throw unauthorized("the Authorization header must be Bearer credentials: 'Bearer <token>'")
        }
        guard tokens.accepts(token) else {
            throw unauthorized("the bearer token is not accepted")
        }
        return try await next(request, context)
    }

    private func unauthorized(_ detail: String) -> Problem {
        Problem(.unauthorized, detail: detail, headers: [.wwwAuthenticate: #"Bearer realm="prefloss-server""#])
    }
}
