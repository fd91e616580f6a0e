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

    /// The labelled series, each made once: making one looks it up in the registry under its
    /// lock. Bounded as their label sets are (the server's own codes, types, routes).
    private let counters = Mutex<[SeriesKey: Counter]>([:])
    private let requestSeries = Mutex<[RequestSeriesKey: RequestSeries]>([:])

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
        let key = RequestSeriesKey(
            route: route, method: Self.standardMethods.contains(method) ? method.rawValue : "other",
            status: status.code)
        let series = requestSeries.withLock { made in
            if let known = made[key] { return known }
            let dimensions = [("route", key.route), ("method", key.method), ("status", String(key.status))]
            let new = RequestSeries(
                count: Counter(label: MetricFamily.requests.rawValue, dimensions: dimensions, factory: factory),
                duration: Timer(label: MetricFamily.requestDuration.rawValue, dimensions: dimensions, factory: factory))
            made[key] = new
            return new
        }
        series.count.increment()
        series.duration.recordNanoseconds(nanoseconds)
    }

    /// The methods labelled by name.
    private static let standardMethods: [HTTPRequest.Method] = [
        .get, .head, .post, .put, .delete, .connect, .options, .trace, .patch,
    ]

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

/// The labels of a finished request's series. Its own type rather than a `SeriesKey`, because
/// it is looked up on every request: three fields hash faster than an array of six strings.
private struct RequestSeriesKey: Hashable {
    var route: String
    var method: String
    var status: Int
}

/// A finished request's series: how many, and how long they took.
private struct RequestSeries {
    var count: Counter
    var duration: Timer
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
