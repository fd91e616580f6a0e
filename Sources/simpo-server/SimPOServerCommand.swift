import ArgumentParser
import Foundation
import HummingbirdTLS
import Logging
import Metrics
import Prometheus
import SimPOServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `simpo-server`: every option falls back to an environment variable, then to its default.
@main
struct SimPOServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simpo-server",
        abstract: "Serves SimPO and DPO losses, gradients and reward metrics over HTTP.",
        discussion: "Each option falls back to the environment variable named in its help, then to its default.")

    @Option(help: "Address to listen on; 0.0.0.0 for every interface (SIMPO_HOST; default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (SIMPO_PORT; default 8080).")
    var port: Int?

    @Option(help: "Largest accepted request body: bytes, or with KB, MB, KiB, MiB, GiB (SIMPO_MAX_BODY_SIZE; default 64MiB).")
    var maxBodySize: ByteSize?

    @Option(help: "Requests held at once before new ones get 503 (SIMPO_MAX_IN_FLIGHT_REQUESTS; default 256).")
    var maxInFlightRequests: Int?

    @Option(help: "Request-body bytes held at once before new requests get 503 (SIMPO_MAX_IN_FLIGHT_BYTES; default a quarter of the memory limit).")
    var maxInFlightBytes: ByteSize?

    @Option(help: "Seconds before an idle connection is closed; 0 for never (SIMPO_IDLE_TIMEOUT; default 60).")
    var idleTimeout: Double?

    @Option(help: "Seconds a request body may take to arrive before 408 (SIMPO_BODY_TIMEOUT; default 30).")
    var bodyTimeout: Double?

    @Option(help: "Seconds /ready reports 503 before shutdown stops accepting connections (SIMPO_DRAIN_DELAY; default 0).")
    var drainDelay: Double?

    @Option(help: "File of bearer tokens, one per line, that /v1/* requires; unset for no authentication (SIMPO_TOKEN_FILE).")
    var tokenFile: String?

    @Option(help: "PEM certificate chain: serve HTTPS only, with --tls-key (SIMPO_TLS_CERT).")
    var tlsCert: String?

    @Option(help: "PEM private key for --tls-cert (SIMPO_TLS_KEY).")
    var tlsKey: String?

    @Option(help: "Whether /metrics requires a bearer token too: true or false (SIMPO_METRICS_REQUIRE_TOKEN; default false).")
    var metricsRequireToken: Bool?

    @Option(help: "Whether to gzip responses of 1 KiB or more for clients that accept it: true or false (SIMPO_COMPRESS_RESPONSES; default true).")
    var compressResponses: Bool?

    @Option(help: "trace, debug, info, notice, warning, error or critical (SIMPO_LOG_LEVEL; default info).")
    var logLevel: Logger.Level?

    @Option(help: "text or json (SIMPO_LOG_FORMAT; default text).")
    var logFormat: LogFormat?

    func run() async throws {
        var settings = ServerSettings()
        settings.host = try resolve(host, "SIMPO_HOST") ?? settings.host
        settings.port = try resolve(port, "SIMPO_PORT") ?? settings.port
        settings.maximumBodySize = try resolve(maxBodySize, "SIMPO_MAX_BODY_SIZE")?.bytes ?? settings.maximumBodySize
        settings.maximumInFlightRequests = try resolve(maxInFlightRequests, "SIMPO_MAX_IN_FLIGHT_REQUESTS") ?? settings.maximumInFlightRequests
        settings.maximumInFlightBytes = try resolve(maxInFlightBytes, "SIMPO_MAX_IN_FLIGHT_BYTES")?.bytes ?? memoryLimit() / 4
        guard settings.maximumInFlightRequests > 0 else { throw ValidationError("max-in-flight-requests must be > 0") }
        let idle = try resolve(idleTimeout, "SIMPO_IDLE_TIMEOUT") ?? 60
        let drain = try resolve(drainDelay, "SIMPO_DRAIN_DELAY") ?? 0
        let body = try resolve(bodyTimeout, "SIMPO_BODY_TIMEOUT") ?? 30
        guard (0 ... 65535).contains(settings.port) else { throw ValidationError("port must be 0...65535") }
        guard idle >= 0, drain >= 0, idle.isFinite, drain.isFinite else { throw ValidationError("timeouts must be >= 0 seconds") }
        guard body > 0, body.isFinite else { throw ValidationError("body-timeout must be > 0 seconds") }
        settings.bodyTimeout = .seconds(body)
        settings.idleTimeout = idle > 0 ? .seconds(idle) : nil
        settings.drainDelay = .seconds(drain)
        if let path = try resolve(tokenFile, "SIMPO_TOKEN_FILE") {
            settings.bearerTokens = try readTokens(path)
        }
        settings.tls = try tlsConfiguration(certificate: try resolve(tlsCert, "SIMPO_TLS_CERT"), key: try resolve(tlsKey, "SIMPO_TLS_KEY"))
        settings.metricsRequireToken = try resolve(metricsRequireToken, "SIMPO_METRICS_REQUIRE_TOKEN") ?? false
        settings.compressResponses = try resolve(compressResponses, "SIMPO_COMPRESS_RESPONSES") ?? true
        let level = try resolve(logLevel, "SIMPO_LOG_LEVEL") ?? .info
        let format = try resolve(logFormat, "SIMPO_LOG_FORMAT") ?? .text

        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = switch format {
            case .text: StreamLogHandler.standardOutput(label: label)
            case .json: JSONLogHandler(label: label)
            }
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "simpo-server")
        logger.info("starting", metadata: [
            "host": "\(settings.host)", "port": "\(settings.port)", "max_body_size": "\(settings.maximumBodySize)",
            "bearer_tokens": "\(settings.bearerTokens?.count ?? 0)", "tls": "\(settings.tls != nil)",
            "max_in_flight_requests": "\(settings.maximumInFlightRequests)", "max_in_flight_bytes": "\(settings.maximumInFlightBytes)",
        ])
        try await SimPOService(settings: settings, registry: registry, logger: logger).run()
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

    /// The memory this process may use: the cgroup (container) limit when there is one,
    /// else the machine's physical memory.
    private func memoryLimit() -> Int {
        let physical = sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE))
        let cgroup = (try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return min(physical, cgroup ?? .max)
    }

    /// The tokens in the file at `path`; an unreadable or empty file is an error, not an open door.
    private func readTokens(_ path: String) throws -> BearerTokens {
        guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("cannot read the token file \(path)")
        }
        guard let tokens = BearerTokens(fileContents: contents) else {
            throw ValidationError("the token file \(path) holds no token")
        }
        return tokens
    }

    /// The option's value if given, else the environment variable's (parsed as the option
    /// would be; an unparsable value is an error), else nil.
    private func resolve<T: ExpressibleByArgument>(_ option: T?, _ variable: String) throws -> T? {
        if let option { return option }
        guard let raw = getenv(variable) else { return nil }
        let text = String(cString: raw)
        guard let value = T(argument: text) else { throw ValidationError("\(variable)=\(text) is not a valid value") }
        return value
    }
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
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1), ("", 1),
        ]
        for (suffix, factor) in units where argument.hasSuffix(suffix) {
            guard let count = Int(argument.dropLast(suffix.count)), count > 0 else { continue }
            let (bytes, overflow) = count.multipliedReportingOverflow(by: factor)
            guard !overflow else { return nil }
            self.bytes = bytes
            return
        }
        return nil
    }
}
