import Hummingbird
import Logging
import PreferenceLossCodec

/// Turns every error into a problem+json response, so no error is ever an empty
/// body: a route's `Problem` (`MethodNotAllowedMiddleware`'s 405 among them), the router's
/// 404 `HTTPError`, and anything unexpected (any other `HTTPError` too: nothing here throws
/// one) as a logged 500. Every problem is counted by type in `prefloss_http_problems_total`
/// and logged (at info; a 500 at error) with the request's id.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let problem: Problem
        do {
            return try await next(request, context)
        } catch let error as Problem {
            problem = error
        } catch let error as HTTPError where error.status == .notFound {
            problem = Problem(.notFound, detail: "no route for \(echo(request.uri.path))")
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
}
