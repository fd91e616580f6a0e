import PreferenceLossCodec
import Hummingbird
import Logging

/// Turns every error into a problem+json response, so no error is ever an empty
/// body: a route's `Problem`, the router's 404 `HTTPError` (405 with `Allow` when the
/// path exists under other methods), and anything unexpected (any other `HTTPError`
/// too: nothing here throws one) as a logged 500. Every problem is counted by type in
/// `prefloss_http_problems_total` and logged (at info; a 500 at error) with the request's id.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The methods each known path answers.
    let routes: [String: [HTTPRequest.Method]]
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let problem: Problem
        do {
            return try await next(request, context)
        } catch let error as Problem {
            problem = error
        } catch let error as HTTPError where error.status == .notFound {
            problem = notFound(request)
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            problem = Problem(.internalServerError, detail: "the server failed to handle the request")
        }
        let type = problem.type.rawValue
        metrics.recordProblem(type: type)
        context.logger.log(
            level: problem.status == .internalServerError ? .error : .info, "problem",
            metadata: [
                "status": "\(problem.status.code)", "type": "\(type)", "path": "\(echo(request.uri.path))",
                "detail": "\(echo(problem.detail, maximumBytes: Problem.maximumDetailBytes))",
            ])
        return try problem.response(from: request, context: context)
    }

    /// 405 with `Allow` when the path is served under other methods, else 404.
    private func notFound(_ request: Request) -> Problem {
        // The router skips empty path segments, so `//v1/loss` names `/v1/loss` too.
        let routePath = "/" + request.uri.path.split(separator: "/").joined(separator: "/")
        if let allowed = routes[routePath] {
            let allow = allowed.map(\.rawValue).joined(separator: ", ")
            return Problem(
                .methodNotAllowed, detail: "\(routePath) answers \(allow), not \(echo(request.method.rawValue))",
                headers: [.allow: allow])
        }
        return Problem(.notFound, detail: "no route for \(echo(request.uri.path))")
    }
}
