import FastJSON
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// The HTTP service: its application, and the readiness it reports.
public struct LossService: Sendable {
    public typealias App = Application<RouterResponder<LossRequestContext>>

    public let application: App
    public let readiness: Readiness
    let settings: ServerSettings
    let logger: Logger

    /// Builds the routes for `settings`, recording metrics into `registry`.
    /// `onServerRunning` receives the bound port (useful with port 0).
    /// - Throws: when the TLS configuration cannot be used.
    public init(
        settings: ServerSettings, registry: PrometheusCollectorRegistry, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws {
        var prometheus = PrometheusMetricsFactory(registry: registry)
        prometheus.valueHistogramBuckets[MetricFamily.requestBodyBytes.rawValue] = [
            1e3, 1e4, 1e5, 1e6, 4e6, 1.6e7, 6.4e7, 2.56e8,
        ]
        let metrics = ServerMetrics(factory: DescribedMetricsFactory(base: prometheus))
        let readiness = Readiness()
        let workers = WorkerPool(workers: settings.workers)
        let loss = LossRoute(settings: settings, metrics: metrics, workers: workers)

        let router = Router(context: LossRequestContext.self)
        // Outermost, so that it sees every answer, problems included.
        router.add(
            middleware: LingeringMiddleware(
                maximumBytes: min(settings.maximumBodySize, Int.max / 4) * 4, maximumTime: .seconds(5)))
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
        router.add(middleware: ProblemMiddleware(metrics: metrics))
        // Authorisation is by route: only the routes registered in these groups need a
        // token, however a client spells the path.
        let api = router.group("v1")
        let metricsRoutes = router.group()
        if let tokens = settings.bearerTokens {
            api.add(middleware: BearerAuthMiddleware(tokens: tokens))
            if settings.metricsRequireToken { metricsRoutes.add(middleware: BearerAuthMiddleware(tokens: tokens)) }
        }
        api.post("loss") { request, context in try await loss.respond(to: request, context: context) }
        metricsRoutes.getAndHead("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.getAndHead("/health") { _, _ in jsonResponse(.ok, #"{"status":"ok"}"#) }
        router.getAndHead("/ready") { _, _ in try readinessResponse(readiness) }
        router.getAndHead("/openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_yaml)))
        }
        // Last, so that it sees only the requests no route matched.
        router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes))

        application = Application(
            router: router,
            server: try serverBuilder(settings),
            configuration: .init(
                address: .hostname(settings.host, port: settings.port), serverName: "prefloss-server",
                availableConnectionsDelegate: .maximum(settings.maximumConnections, logger: logger)),
            // Before the server, so that it stops after it: the requests in flight finish first.
            services: [workers],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? settings.port) },
            logger: logger)
        self.readiness = readiness
        self.settings = settings
        self.logger = logger
    }

    /// The application and the readiness switch, in the order a ServiceGroup must
    /// run them: groups stop services in reverse, so `/ready` turns 503 and the
    /// drain delay passes before the server stops accepting connections.
    public var services: [any Service] {
        [application, ReadinessService(readiness: readiness, drainDelay: settings.drainDelay)]
    }

    /// Serves until SIGTERM or SIGINT, then turns `/ready` off, waits `drainDelay`,
    /// lets every accepted request finish, and returns.
    public func run() async throws {
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// HTTP/1.1 with the connection guards, over TLS when `settings.tls` is set.
private func serverBuilder(_ settings: ServerSettings) throws -> HTTPServerBuilder {
    let configuration = HTTP1Channel.Configuration(idleTimeout: settings.idleTimeout.map { TimeAmount($0) })
    let http1 = HTTPServerBuilder { responder in
        GuardedHTTPChannel(
            base: HTTP1Channel(responder: responder, configuration: configuration), timeout: settings.headerTimeout,
            writeTimeout: settings.idleTimeout)
    }
    guard let tls = settings.tls else { return http1 }
    return try .tls(http1, tlsConfiguration: tls)
}

extension RouterMethods {
    /// Serves `handler` for GET, and for HEAD with the same headers (Content-Length too) and no
    /// body: NIO's encoder drops the body of an answer to HEAD.
    @discardableResult
    fileprivate func getAndHead(
        _ path: RouterPath, use handler: @escaping @Sendable (Request, Context) async throws -> Response
    ) -> Self {
        get(path, use: handler).head(path, use: handler)
    }
}

private func jsonResponse(_ status: HTTPResponse.Status, _ body: String) -> Response {
    Response(
        status: status, headers: [.contentType: "application/json"],
        body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
}

private func readinessResponse(_ readiness: Readiness) throws -> Response {
    guard readiness.isReady else {
        throw Problem.unavailable("the server is shutting down")
    }
    return jsonResponse(.ok, #"{"status":"ready"}"#)
}
