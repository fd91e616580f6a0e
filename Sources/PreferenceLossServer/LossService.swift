import FastJSON
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// The HTTP service: its application, the probe listener's when there is one, and the
/// readiness it reports.
public struct LossService: Sendable {
    public typealias App = Application<RouterResponder<LossRequestContext>>

    public let application: App
    /// Serves `/health`, `/ready` and `/metrics` on `settings.probePort`, with connections of its
    /// own: no client of the main port can crowd the probes out. Nil without a probe port.
    public let probeApplication: App?
    public let readiness: Readiness
    let settings: ServerSettings
    let logger: Logger

    /// Builds the routes for `settings`, recording metrics into `registry`.
    /// `onServerRunning` and `onProbeServerRunning` receive the bound ports (useful with port 0).
    /// - Throws: when the TLS configuration cannot be used.
    public init(
        settings: ServerSettings, registry: PrometheusCollectorRegistry, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
        onProbeServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws {
        var prometheus = PrometheusMetricsFactory(registry: registry)
        prometheus.valueHistogramBuckets[MetricFamily.requestBodyBytes.rawValue] = [
            1e3, 1e4, 1e5, 1e6, 4e6, 1.6e7, 6.4e7, 2.56e8,
        ]
        let metrics = ServerMetrics(factory: DescribedMetricsFactory(base: prometheus))
        let readiness = Readiness()
        let routes = Routes(settings: settings, metrics: metrics, registry: registry, readiness: readiness)
        let workers = WorkerPool(workers: settings.workers)

        let connections = ConnectionPool(maximum: settings.maximumConnections)
        application = Application(
            router: routes.main(loss: LossRoute(settings: settings, metrics: metrics, workers: workers)),
            server: try serverBuilder(
                settings, timeout: settings.headerTimeout, idleTimeout: settings.idleTimeout, pool: connections),
            configuration: .init(
                address: .hostname(settings.host, port: settings.port), serverName: "prefloss-server",
                availableConnectionsDelegate: connections.delegate),
            // Before the server, so that it stops after it: the requests in flight finish first.
            services: [workers],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? settings.port) },
            logger: logger)
        probeApplication = try settings.probePort.map { port in
            // Its own start line below, so that only the main port's reads "listening on".
            var quiet = logger
            quiet.logLevel = max(logger.logLevel, .notice)
            let probeConnections = ConnectionPool(maximum: ServerSettings.probeConnections)
            return Application(
                router: routes.probes(),
                server: try serverBuilder(
                    settings, timeout: ServerSettings.probeTimeout, idleTimeout: ServerSettings.probeTimeout,
                    pool: probeConnections),
                configuration: .init(
                    address: .hostname(settings.host, port: port), serverName: "prefloss-server",
                    availableConnectionsDelegate: probeConnections.delegate),
                onServerRunning: { channel in
                    let bound = channel.localAddress?.port ?? port
                    logger.info("probe listener on \(settings.host):\(bound)")
                    await onProbeServerRunning(bound)
                },
                logger: quiet)
        }
        self.readiness = readiness
        self.settings = settings
        self.logger = logger
    }

    /// The applications and the readiness switch, in the order a ServiceGroup must run them:
    /// groups stop services in reverse, so `/ready` turns 503 and the drain delay passes before
    /// the server stops accepting connections, and the probes are served until the main
    /// port's last request has finished.
    public var services: [any Service] {
        (probeApplication.map { [$0] } ?? []) + [
            application, ReadinessService(readiness: readiness, drainDelay: settings.drainDelay),
        ]
    }

    /// Serves until SIGTERM or SIGINT, then turns `/ready` off, waits `drainDelay`,
    /// lets every accepted request finish, and returns.
    public func run() async throws {
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// The routers of the two listeners, with the same middleware and probe routes.
private struct Routes {
    let settings: ServerSettings
    let metrics: ServerMetrics
    let registry: PrometheusCollectorRegistry
    let readiness: Readiness

    /// The main port's: the loss, the contract and the probes.
    func main(loss: LossRoute) -> Router<LossRequestContext> {
        let router = withMiddleware()
        let api = router.group("v1")
        if let tokens = settings.bearerTokens { api.add(middleware: BearerAuthMiddleware(tokens: tokens)) }
        api.post("loss") { request, context in try await loss.respond(to: request, context: context) }
        addProbes(to: router)
        router.getAndHead("/openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_yaml)))
        }
        // Last, so that it sees only the requests no route matched.
        router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes))
        return router
    }

    /// The probe port's: `/health`, `/ready` and `/metrics` only.
    func probes() -> Router<LossRequestContext> {
        let router = withMiddleware()
        addProbes(to: router)
        router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes))
        return router
    }

    private func withMiddleware() -> Router<LossRequestContext> {
        let router = Router(context: LossRequestContext.self)
        router.add(middleware: PacingMiddleware())
        // Outer to the rest, so that it sees every answer, problems included.
        router.add(
            middleware: LingeringMiddleware(
                maximumBytes: min(settings.maximumBodySize, Int.max / 4) * 4, maximumTime: .seconds(5)))
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
        router.add(middleware: ProblemMiddleware(metrics: metrics))
        router.add(middleware: ExpectationMiddleware())
        return router
    }

    /// Authorisation is by route: only the routes registered in a group with the tokens need
    /// one, however a client spells the path.
    private func addProbes(to router: Router<LossRequestContext>) {
        let metricsRoutes = router.group()
        if let tokens = settings.bearerTokens, settings.metricsRequireToken {
            metricsRoutes.add(middleware: BearerAuthMiddleware(tokens: tokens))
        }
        let registry = registry
        metricsRoutes.getAndHead("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        // Made once: it never changes, and /health is asked most.
        let healthy = jsonResponse(.ok, #"{"status":"ok"}"#)
        router.getAndHead("/health") { _, _ in healthy }
        let readiness = readiness
        router.getAndHead("/ready") { _, _ in try readinessResponse(readiness) }
    }
}

/// HTTP/1.1 with the connection guards, over TLS when `settings.tls` is set.
func serverBuilder(
    _ settings: ServerSettings, timeout: Duration, idleTimeout: Duration?, pool: ConnectionPool
) throws -> HTTPServerBuilder {
    let configuration = HTTP1Channel.Configuration(idleTimeout: idleTimeout.map { TimeAmount($0) })
    let http1 = HTTPServerBuilder { responder in
        GuardedHTTPChannel(
            base: HTTP1Channel(responder: responder, configuration: configuration), timeout: timeout,
            bodyTimeout: settings.bodyTimeout, writeTimeout: idleTimeout, pool: pool)
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
