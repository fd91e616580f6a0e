import HTTPTypes
import Hummingbird
import PreferenceLossCodec

/// Answers 405 with `Allow` for a request whose path a route serves under other methods.
///
/// Added to the router after every route, so that it sees only the requests no route
/// matched (Hummingbird applies a middleware to the routes added after it, and to the
/// not-found responder it builds last); the allowed methods are the router's own registrations.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The methods each registered path answers, as `Allow` lists them.
    let allowed: [String: String]

    init(routes: [Router<Context>.RouteDescription]) {
        allowed = Dictionary(grouping: routes) { $0.path.description }
            .mapValues { routes in routes.map(\.method.rawValue).joined(separator: ", ") }
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        // The router skips empty path segments, so `//v1/loss` names `/v1/loss` too.
        let path = "/" + request.uri.path.split(separator: "/").joined(separator: "/")
        guard let allow = allowed[path] else { return try await next(request, context) }
        // Counted under the route it names, not as NotFound: the path is one the router serves.
        context.coreContext.endpointPath.value = path
        // A CONNECT's connection closes after the answer (see KeepAliveObserver): say so.
        var headers: HTTPFields = [.allow: allow]
        if request.method == .connect { headers[.connection] = "close" }
        throw Problem(
            .methodNotAllowed, detail: "\(path) answers \(allow), not \(echo(request.method.rawValue))",
            headers: headers)
    }
}
