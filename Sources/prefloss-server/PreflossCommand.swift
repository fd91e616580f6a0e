import ArgumentParser
import Foundation
import HummingbirdTLS
import Logging
import Metrics
import PreferenceLoss
import PreferenceLossServer
import Prometheus

/// The settings' own defaults, shown in the help.
private let defaults = ServerSettings()

/// `prefloss-server`: every option falls back to an environment variable, then to its default.
@main
struct PreflossCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefloss-server",
        abstract: "Serves preference-optimisation losses over HTTP: SimPO, DPO with TRL's loss types and WPO, "
            + "CPO/AlphaPO, ORPO, KTO, SimPER and DPO-Positive, with their gradients and reward metrics.",
        discussion: "Each option falls back to the environment variable named in its help, then to its default.")

    @Option(help: "Address to listen on; 0.0.0.0 for every interface (PREFLOSS_HOST; default \(defaults.host)).")
    var host: String?

    @Option(help: "Port to listen on (PREFLOSS_PORT; default \(defaults.port)).")
    var port: Int?

    @Option(
        help:
            "Port that serves /health, /ready and /metrics too, with \(ServerSettings.probeConnections) connections of its own that clients of --port cannot take; point probes at it (PREFLOSS_PROBE_PORT; default none)."
    )
    var probePort: Int?

    @Option(
        help:
            "Largest accepted request body, also after decompression: bytes, or with KB, MB, GB, KiB, MiB, GiB (PREFLOSS_MAX_BODY_SIZE; default \(defaults.maximumBodySize) bytes)."
    )
    var maxBodySize: ByteSize?

    @Option(
        help:
            "Connections open at once; more wait to be accepted (PREFLOSS_MAX_CONNECTIONS; default \(defaults.maximumConnections))."
    )
    var maxConnections: Int?

    @Option(
        help:
            "Requests served at once before new ones get 503 (PREFLOSS_MAX_IN_FLIGHT_REQUESTS; default \(defaults.maximumInFlightRequests))."
    )
    var maxInFlightRequests: Int?

    @Option(
        help:
            "Memory the requests in flight may hold (bodies, parsing, results, responses) before new ones get 503 (PREFLOSS_MAX_IN_FLIGHT_BYTES; default a quarter of the memory limit)."
    )
    var maxInFlightBytes: ByteSize?

    @Option(
        help:
            "An answer may be this many times the request body as sent, plus 1 MiB, else 413 before any work; 0 for no bound (PREFLOSS_MAX_ANSWER_RATIO; default \(defaults.maximumAnswerRatio ?? 0))."
    )
    var maxAnswerRatio: Int?

    @Option(
        help:
            "A compressed body may inflate to this many times its size as sent, plus 1 MiB, else 413; 0 for no bound (PREFLOSS_MAX_INFLATION_RATIO; default \(defaults.maximumInflationRatio ?? 0))."
    )
    var maxInflationRatio: Int?

    @Option(
        help:
            "Threads that do the loss requests' work, apart from those that serve connections and probes (PREFLOSS_WORKERS; default one per core)."
    )
    var workers: Int?

    @Option(
        help:
            "Seconds before an idle connection is closed; 0 for never (PREFLOSS_IDLE_TIMEOUT; default \(seconds(defaults.idleTimeout)))."
    )
    var idleTimeout: Double?

    @Option(
        help:
            "Seconds a request head may take from its first byte before the connection is closed (PREFLOSS_HEADER_TIMEOUT; default \(seconds(defaults.headerTimeout)))."
    )
    var headerTimeout: Double?

    @Option(
        help:
            "Seconds a request body may take to arrive before 408 (PREFLOSS_BODY_TIMEOUT; default \(seconds(defaults.bodyTimeout)))."
    )
    var bodyTimeout: Double?

    @Option(
        help:
            "Seconds /ready reports 503 before shutdown stops accepting connections (PREFLOSS_DRAIN_DELAY; default \(seconds(defaults.drainDelay)))."
    )
    var drainDelay: Double?

    @Option(
        help:
            "File of bearer tokens, one per line, that /v1/* requires; unset for no authentication (PREFLOSS_TOKEN_FILE)."
    )
    var tokenFile: String?

    @Option(help: "PEM certificate chain: serve HTTPS only, with --tls-key (PREFLOSS_TLS_CERT).")
    var tlsCert: String?

    @Option(help: "PEM private key for --tls-cert (PREFLOSS_TLS_KEY).")
    var tlsKey: String?

    @Option(
        help:
            "Whether /metrics requires a bearer token too: true or false (PREFLOSS_METRICS_REQUIRE_TOKEN; default \(defaults.metricsRequireToken))."
    )
    var metricsRequireToken: Bool?

    @Option(
        help:
            "Whether to gzip responses of 1 KiB or more for clients that accept it: true or false (PREFLOSS_COMPRESS_RESPONSES; default \(defaults.compressResponses))."
    )
    var compressResponses: Bool?

    @Option(
        help:
            "Training runs (X-Run-Id) whose recent steps are kept for trend warnings and per-run metrics; past it the least recently seen is dropped (PREFLOSS_MAX_RUNS; default \(defaults.maximumRuns))."
    )
    var maxRuns: Int?

    @Option(
        help:
            "Closed train steps kept per run (a request without X-Run-Step is one): the window of the trend warnings, 3 to 1000 (PREFLOSS_RUN_BATCHES; default \(defaults.batchesPerRun))."
    )
    var runBatches: Int?

    @Option(
        help:
            "Seconds after which a run not seen is dropped with its metric series (PREFLOSS_RUN_IDLE_EXPIRY; default \(seconds(defaults.runIdleExpiry)))."
    )
    var runIdleExpiry: Double?

    @Option(help: "trace, debug, info, notice, warning, error or critical (PREFLOSS_LOG_LEVEL; default info).")
    var logLevel: Logger.Level?

    @Option(help: "text or json (PREFLOSS_LOG_FORMAT; default text).")
    var logFormat: LogFormat?

    func run() async throws {
        var environment = OptionEnvironment()
        var settings = ServerSettings()
        settings.host = try environment.resolve(host, "PREFLOSS_HOST") ?? settings.host
        settings.port = try environment.resolve(port, "PREFLOSS_PORT") ?? settings.port
        settings.probePort = try environment.resolve(probePort, "PREFLOSS_PROBE_PORT") ?? settings.probePort
        if let size = try environment.resolve(maxBodySize, "PREFLOSS_MAX_BODY_SIZE") {
            settings.maximumBodySize = size.bytes
        }
        if let count = try environment.resolve(maxConnections, "PREFLOSS_MAX_CONNECTIONS") {
            settings.maximumConnections = count
        }
        if let count = try environment.resolve(maxInFlightRequests, "PREFLOSS_MAX_IN_FLIGHT_REQUESTS") {
            settings.maximumInFlightRequests = count
        }
        if let size = try environment.resolve(maxInFlightBytes, "PREFLOSS_MAX_IN_FLIGHT_BYTES") {
            settings.maximumInFlightBytes = size.bytes
        }
        if let ratio = try environment.resolve(maxAnswerRatio, "PREFLOSS_MAX_ANSWER_RATIO") {
            settings.maximumAnswerRatio = ratio == 0 ? nil : ratio
        }
        if let ratio = try environment.resolve(maxInflationRatio, "PREFLOSS_MAX_INFLATION_RATIO") {
            settings.maximumInflationRatio = ratio == 0 ? nil : ratio
        }
        settings.workers = try environment.resolve(workers, "PREFLOSS_WORKERS") ?? settings.workers
        if let idle = try environment.resolve(idleTimeout, "PREFLOSS_IDLE_TIMEOUT") {
            settings.idleTimeout = idle == 0 ? nil : try duration(idle, "idle-timeout")
        }
        if let header = try environment.resolve(headerTimeout, "PREFLOSS_HEADER_TIMEOUT") {
            settings.headerTimeout = try duration(header, "header-timeout")
        }
        if let body = try environment.resolve(bodyTimeout, "PREFLOSS_BODY_TIMEOUT") {
            settings.bodyTimeout = try duration(body, "body-timeout")
        }
        if let drain = try environment.resolve(drainDelay, "PREFLOSS_DRAIN_DELAY") {
            settings.drainDelay = try duration(drain, "drain-delay")
        }
        if let path = try environment.resolve(tokenFile, "PREFLOSS_TOKEN_FILE") {
            settings.bearerTokens = try readTokens(path)
        }
        settings.tls = try tlsConfiguration(
            certificate: try environment.resolve(tlsCert, "PREFLOSS_TLS_CERT"),
            key: try environment.resolve(tlsKey, "PREFLOSS_TLS_KEY"))
        if let required = try environment.resolve(metricsRequireToken, "PREFLOSS_METRICS_REQUIRE_TOKEN") {
            settings.metricsRequireToken = required
        }
        if let compress = try environment.resolve(compressResponses, "PREFLOSS_COMPRESS_RESPONSES") {
            settings.compressResponses = compress
        }
        settings.maximumRuns = try environment.resolve(maxRuns, "PREFLOSS_MAX_RUNS") ?? settings.maximumRuns
        settings.batchesPerRun = try environment.resolve(runBatches, "PREFLOSS_RUN_BATCHES") ?? settings.batchesPerRun
        if let expiry = try environment.resolve(runIdleExpiry, "PREFLOSS_RUN_IDLE_EXPIRY") {
            settings.runIdleExpiry = try duration(expiry, "run-idle-expiry")
        }
        if let problem = settings.validate() { throw ValidationError(problem) }
        let level = try environment.resolve(logLevel, "PREFLOSS_LOG_LEVEL") ?? .info
        let format = try environment.resolve(logFormat, "PREFLOSS_LOG_FORMAT") ?? .text

        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                switch format {
                case .text: TextLogHandler(label: label)
                case .json: JSONLogHandler(label: label)
                }
            handler.logLevel = level
            return handler
        }
        retainFreedBuffers()
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "prefloss-server")
        for (old, new) in environment.oldNamesRead {
            logger.warning(
                "\(old) is the name before the rename, read until the server's next release: set \(new)",
                metadata: ["variable": "\(old)", "replacement": "\(new)"])
        }
        logger.info(
            "starting",
            metadata: [
                "host": "\(settings.host)", "port": "\(settings.port)",
                "probe_port": "\(settings.probePort.map(String.init) ?? "none")",
                "max_body_size": "\(settings.maximumBodySize)",
                "bearer_tokens": "\(settings.bearerTokens?.count ?? 0)", "tls": "\(settings.tls != nil)",
                "max_in_flight_requests": "\(settings.maximumInFlightRequests)",
                "max_in_flight_bytes": "\(settings.maximumInFlightBytes)", "workers": "\(settings.workers)",
            ])
        try await LossService(settings: settings, registry: registry, logger: logger).run()
        logger.info("stopped")
    }

    /// A TLS server configuration from PEM files; nil when neither is given.
    private func tlsConfiguration(certificate: String?, key: String?) throws -> TLSConfiguration? {
        switch (certificate, key) {
        case (nil, nil):
            return nil
        case (let certificate?, let key?):
            do {
                return try ServerSettings.tlsConfiguration(certificateChainFile: certificate, privateKeyFile: key)
            } catch {
                throw ValidationError("cannot load the TLS certificate \(certificate) and key \(key): \(error)")
            }
        default:
            throw ValidationError("--tls-cert and --tls-key go together")
        }
    }

    /// The tokens in the file at `path`; an unreadable or empty file is an error, not an open door.
    private func readTokens(_ path: String) throws -> BearerTokens {
        guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("cannot read the token file \(path)")
        }
        guard let tokens = BearerTokens(fileContents: contents) else {
            throw ValidationError(
                "the token file \(path) holds no token, or one with characters a Bearer token cannot have")
        }
        return tokens
    }
}

/// A finite, non-negative number of seconds as a Duration.
private func duration(_ seconds: Double, _ name: String) throws -> Duration {
    guard seconds.isFinite, seconds >= 0, seconds <= 1e9 else {
        throw ValidationError("\(name) must be 0 to 1e9 seconds, not \(seconds)")
    }
    return .seconds(seconds)
}

/// A duration as seconds, for the help.
private func seconds(_ duration: Duration?) -> String {
    guard let duration else { return "0 (never)" }
    return "\(Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)"
}

enum LogFormat: String, CaseIterable, ExpressibleByArgument {
    case text, json
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// A byte count written as `1048576`, `500KB`, `64MiB` or `1GiB`.
struct ByteSize: ExpressibleByArgument {
    var bytes: Int

    init?(argument: String) {
        let units: [(suffix: String, factor: Int)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1000), ("MB", 1_000_000),
            ("GB", 1_000_000_000), ("B", 1), ("", 1),
        ]
        for (suffix, factor) in units where argument.hasSuffix(suffix) {
            let digits = argument.utf8.dropLast(suffix.utf8.count)
            guard !digits.isEmpty, digits.allSatisfy({ (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains($0) }),
                let count = Int(String(decoding: digits, as: UTF8.self)), count > 0
            else { continue }
            let (bytes, overflow) = count.multipliedReportingOverflow(by: factor)
            guard !overflow else { return nil }
            self.bytes = bytes
            return
        }
        return nil
    }
}
