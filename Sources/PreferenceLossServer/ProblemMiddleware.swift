import PreferenceLossCodec
import Hummingbird
import Logging

/// Turns every error into a problem+json response, so no error is ever an empty
/// body: a route's `Problem`, Hummingbird's `HTTPError`s (404 becomes 405 with
/// `Allow` when the path exists under other methods), and anything unexpected
/// as a logged 500. Every problem is counted by type in `prefloss_http_problems_total` and
/// logged (at info; a 500 at error) with the request's id.
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
        } catch let error as HTTPError {
            problem = self.problem(for: error, request: request)
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            problem = Problem(status: .internalServerError, detail: "the server failed to handle the request")
        }
        let type = problem.type.hasPrefix(Problem.typePrefix) ? String(problem.type.dropFirst(Problem.typePrefix.count)) : problem.type
        metrics.recordProblem(type: type)
        context.logger.log(
            level: problem.status == .internalServerError ? .error : .info, "problem",
            metadata: [
                "status": "\(problem.status.code)", "type": "\(type)", "path": "\(echo(request.uri.path))",
                "detail": "\(echo(problem.detail, maximumBytes: Problem.maximumDetailBytes))",
            ])
        return try problem.response(from: request, context: context)
    }

    private func problem(for error: HTTPError, request: Request) -> Problem {
        switch error.status {
        case .notFound:
            // The router skips empty path segments, so `//v1/loss` names `/v1/loss` too.
            let routePath = "/" + request.uri.path.split(separator: "/").joined(separator: "/")
            if let allowed = routes[routePath] {
                let allow = allowed.map(\.rawValue).joined(separator: ", ")
                return Problem(
                    status: .methodNotAllowed, detail: "\(routePath) answers \(allow), not \(echo(request.method.rawValue))",
                    headers: [.allow: allow])
            }
            return Problem(status: .notFound, detail: "no route for \(echo(request.uri.path))")
        case .contentTooLarge:
            return Problem(status: .contentTooLarge, detail: error.body ?? "request body is larger than the server accepts")
        default:
            return Problem(status: error.status, detail: error.body ?? error.status.reasonPhrase)
        }
    }
}
