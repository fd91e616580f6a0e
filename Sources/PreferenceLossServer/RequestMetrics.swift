import CoreMetrics
import Hummingbird
import PreferenceLoss
import Synchronization

/// The service's own metrics, created from an explicit factory so that every
/// application (and every test) can have its own registry.
final class ServerMetrics: Sendable {
    let factory: any MetricsFactory
    let inFlight: Meter
    let requestBodyBytes: Recorder
    /// Requests refused with 503 because the server was at capacity.
    let shed: Counter
    /// Loss requests admitted and not yet answered, and the memory they reserve.
    let admittedRequests: Gauge
    let reservedBytes: Gauge

    /// The labelled counters and timers, each made once: making one looks it up in the registry
    /// under its lock. Bounded as their label sets are (the server's own codes, types, routes).
    private let counters = Mutex<[SeriesKey: Counter]>([:])
    private let timers = Mutex<[SeriesKey: Timer]>([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
        inFlight = Meter(label: MetricFamily.requestsInFlight.rawValue, factory: factory)
        requestBodyBytes = Recorder(label: MetricFamily.requestBodyBytes.rawValue, factory: factory)
        shed = Counter(label: MetricFamily.requestsShed.rawValue, factory: factory)
        admittedRequests = Gauge(label: MetricFamily.admittedLossRequests.rawValue, factory: factory)
        reservedBytes = Gauge(label: MetricFamily.reservedMemory.rawValue, factory: factory)
    }

    /// Counts each warning of a loss response by its code (the server's own: a bounded label).
    func recordWarnings(_ warnings: [LossWarning]) {
        for warning in warnings {
            counter(.warnings, [("code", warning.code)]).increment()
        }
    }

    /// Counts one problem response by its type's slug (a fixed set, so a bounded label).
    func recordProblem(type: String) {
        counter(.problems, [("type", type)]).increment()
    }

    /// Counts one finished request and records its latency, by route, method and status.
    /// Methods other than HTTP's standard ones share the label `other`, so clients cannot grow the label set.
    func record(route: String, method: HTTPRequest.Method, status: HTTPResponse.Status, nanoseconds: Int64) {
        let standard: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .connect, .options, .trace, .patch]
        let dimensions = [
            ("route", route), ("method", standard.contains(method) ? method.rawValue : "other"),
            ("status", String(status.code)),
        ]
        counter(.requests, dimensions).increment()
        let key = SeriesKey(label: MetricFamily.requestDuration.rawValue, dimensions: dimensions)
        let timer = timers.withLock { timers in
            if let known = timers[key] { return known }
            let made = Timer(label: key.label, dimensions: dimensions, factory: factory)
            timers[key] = made
            return made
        }
        timer.recordNanoseconds(nanoseconds)
    }

    /// The counter of `family` with `dimensions`, made the first time it is asked for.
    private func counter(_ family: MetricFamily, _ dimensions: [(String, String)]) -> Counter {
        let key = SeriesKey(label: family.rawValue, dimensions: dimensions)
        return counters.withLock { counters in
            if let known = counters[key] { return known }
            let made = Counter(label: key.label, dimensions: dimensions, factory: factory)
            counters[key] = made
            return made
        }
    }
}

/// A metric's label and dimensions, as a dictionary key.
private struct SeriesKey: Hashable {
    var label: String
    var dimensions: [String]

    init(label: String, dimensions: [(String, String)]) {
        self.label = label
        self.dimensions = dimensions.flatMap { [$0.0, $0.1] }
    }
}

/// Measures every request, after `ProblemMiddleware` has turned errors into responses
/// (so it always sees a response, never an error).
/// Unknown paths share the route label `NotFound` (as Hummingbird names them), so clients cannot grow the label
/// set; a known path asked with a method it does not serve is labelled with its route (`MethodNotAllowedMiddleware`).
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        metrics.inFlight.increment()
        defer { metrics.inFlight.decrement() }
        let response = try await next(request, context)
        // Bodies are in memory, so the time to the response covers the work; writing it is NIO's.
        let elapsed = ContinuousClock.now - start
        let nanoseconds = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        metrics.record(
            route: context.endpointPath ?? "NotFound", method: request.method, status: response.status,
            nanoseconds: nanoseconds)
        return response
    }
}
