import Hummingbird
import Logging

/// Turns every error into a problem+json response, so no error is ever an empty
/// body: a route's `Problem`, Hummingbird's `HTTPError`s (404 becomes 405 with
/// `Allow` when the path exists under other methods), and anything unexpected
/// as a logged 500.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The methods each known path answers.
    let routes: [String: [HTTPRequest.Method]]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return try problem.response(from: request, context: context)
        } catch let error as HTTPError {
            return try problem(for: error, request: request).response(from: request, context: context)
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            return try Problem(status: .internalServerError, detail: "the server failed to handle the request")
                .response(from: request, context: context)
        }
    }

    private func problem(for error: HTTPError, request: Request) -> Problem {
        switch error.status {
        case .notFound:
            if let allowed = routes[request.uri.path] {
                let allow = allowed.map(\.rawValue).joined(separator: ", ")
                return Problem(
                    status: .methodNotAllowed, detail: "\(request.uri.path) answers \(allow), not \(request.method.rawValue)",
                    headers: [.allow: allow])
            }
            return Problem(status: .notFound, detail: "no route for \(request.uri.path)")
        case .contentTooLarge:
            return Problem(status: .contentTooLarge, detail: error.body ?? "request body is larger than the server accepts")
        default:
            return Problem(status: error.status, detail: error.body ?? error.status.reasonPhrase)
        }
    }
}
