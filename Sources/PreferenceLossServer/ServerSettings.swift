import Foundation
import HummingbirdTLS
import NIOCore
import NIOSSL

/// Everything the server can be told at start-up. Each default is written here once;
/// the command line and the tests start from `ServerSettings()`.
public struct ServerSettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// When set, `/health`, `/ready` and `/metrics` are also served on this port, on `host`,
    /// with `probeConnections` of their own (0: a port the kernel picks).
    public var probePort: Int?
    /// Larger request bodies (after decompression too) get 413.
    public var maximumBodySize = 64 * 1024 * 1024
    /// Connections idle for this long are closed; nil keeps them open.
    public var idleTimeout: Duration? = .seconds(60)
    /// How long a request head may take from its first byte; a slower one closes the connection.
    public var headerTimeout: Duration = .seconds(10)
    /// How long a request body may take to arrive; a slower one gets 408 and the
    /// connection is closed, whether or not more bytes arrive.
    public var bodyTimeout: Duration = .seconds(30)
    /// How long `/ready` reports 503 before the server stops accepting connections.
    public var drainDelay: Duration = .zero
    /// When set, `/v1/*` (and `/metrics` if `metricsRequireToken`) need one of these bearer tokens.
    public var bearerTokens: BearerTokens?
    public var metricsRequireToken = false
    /// Connections open at once; past it new ones wait in the listen backlog.
    public var maximumConnections = 1024
    /// Loss requests served at once; more get 503 with Retry-After.
    public var maximumInFlightRequests = 256
    /// Memory that requests in flight may hold (bodies, parser, inputs, results and
    /// responses, as `MemoryModel` estimates them); a request that would take the total past it
    /// gets 503, one that needs more than all of it 413.
    /// A quarter of the memory limit (the cgroup's, else the machine's).
    public var maximumInFlightBytes = memoryLimit() / 4
    /// An answer may be this many times the request's body as sent, plus `ratioAllowance`; a
    /// larger one gets 413 before it is computed. Nil: no bound but memory's.
    public var maximumAnswerRatio: Int? = 256
    /// A compressed body may inflate to this many times its size as sent, plus `ratioAllowance`;
    /// past it, 413 as soon as inflating gets there, so a few kilobytes cannot ask for the work
    /// of tens of megabytes. Nil: no bound but `maximumBodySize`.
    public var maximumInflationRatio: Int? = 64
    /// Threads that do the loss requests' work (inflating, decoding, the loss, encoding), apart
    /// from the threads that serve connections and the probes: one per core (the cgroup's
    /// quota, else the machine's).
    public var workers = System.coreCount
    /// When set, the server speaks HTTPS only, with this certificate and key.
    public var tls: TLSConfiguration?
    /// Whether responses are gzip-compressed for clients whose Accept-Encoding asks for it.
    public var compressResponses = true
    /// Training runs (`X-Run-Id`) whose history is kept; past it the least recently seen is dropped.
    public var maximumRuns = 32
    /// Closed train steps kept per run: the window of the trend warnings.
    public var batchesPerRun = 8
    /// A run not seen for this long is dropped, with its metric series.
    public var runIdleExpiry: Duration = .seconds(3600)

    public init() {}

    /// Connections the probe port serves at once, apart from `maximumConnections`: enough that a
    /// new one sends its request before, closed to make room, it is the longest waiting, even when
    /// every connection closed comes back at once (16 were not).
    public static let probeConnections = 128
    /// How long a probe connection may take to send its request head from its accept, and may
    /// stay idle: probes open a connection each and ask at once.
    public static let probeTimeout = Duration.seconds(2)

    /// The bounds of the run history's settings.
    static let runLimit = 1000
    /// What the ratio bounds allow whatever the body: an answer's configuration and metrics, and more.
    static let ratioAllowance = 1 << 20
    /// Ratio bounds past this would bound nothing.
    static let ratioLimit = 1 << 20
    /// More workers than this would only add threads that wait for cores.
    static let workerLimit = 1024
    static let batchesPerRunRange = 3 ... 1000

    /// Shorter timeouts would close connections before any answer.
    static let shortestTimeout = Duration.milliseconds(1)
    /// A longer drain would outlast any orchestrator's grace period.
    static let longestDrainDelay = Duration.seconds(3600)

    /// The largest body size accepted: it keeps every size product in `MemoryModel` far from overflow.
    public static let largestMaximumBodySize = 1 << 40

    /// Why the settings cannot run a server, or nil when they can.
    public func validate() -> String? {
        if !(0 ... 65535).contains(port) { return "port must be 0...65535, not \(port)" }
        if let probePort {
            if !(0 ... 65535).contains(probePort) { return "probe-port must be 0...65535, not \(probePort)" }
            if probePort == port, port != 0 { return "probe-port must differ from port (\(port))" }
        }
        if !(1 ... Self.largestMaximumBodySize).contains(maximumBodySize) {
            return "max-body-size must be 1 byte to 1 TiB"
        }
        if maximumConnections < 1 { return "max-connections must be at least 1" }
        if maximumInFlightRequests < 1 { return "max-in-flight-requests must be at least 1" }
        if maximumInFlightBytes < 1 { return "max-in-flight-bytes must be at least 1 byte" }
        if let ratio = maximumAnswerRatio, !(1 ... Self.ratioLimit).contains(ratio) {
            return "max-answer-ratio must be 1 to \(Self.ratioLimit), or 0 for none"
        }
        if let ratio = maximumInflationRatio, !(1 ... Self.ratioLimit).contains(ratio) {
            return "max-inflation-ratio must be 1 to \(Self.ratioLimit), or 0 for none"
        }
        if !(1 ... Self.workerLimit).contains(workers) { return "workers must be 1 to \(Self.workerLimit)" }
        if let idleTimeout, idleTimeout < Self.shortestTimeout {
            return "idle-timeout must be at least 1 ms (or 0: never)"
        }
        if headerTimeout < Self.shortestTimeout { return "header-timeout must be at least 1 ms" }
        if bodyTimeout < Self.shortestTimeout { return "body-timeout must be at least 1 ms" }
        if drainDelay < .zero || drainDelay > Self.longestDrainDelay { return "drain-delay must be 0 to 3600 seconds" }
        if !(1 ... Self.runLimit).contains(maximumRuns) { return "max-runs must be 1 to \(Self.runLimit)" }
        if !Self.batchesPerRunRange.contains(batchesPerRun) {
            return "run-batches must be \(Self.batchesPerRunRange.lowerBound) to \(Self.batchesPerRunRange.upperBound)"
        }
        if runIdleExpiry < .seconds(1) { return "run-idle-expiry must be at least 1 second" }
        return nil
    }
}

/// The memory this process may use: the cgroup (container) limit when there is one,
/// else the machine's physical memory.
private func memoryLimit() -> Int {
    let physical = Int(clamping: ProcessInfo.processInfo.physicalMemory)
    let cgroup = (try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8))
        .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    return min(physical, cgroup ?? .max)
}

extension ServerSettings {
    /// A TLS server configuration from a PEM certificate chain and a PEM private key.
    public static func tlsConfiguration(certificateChainFile: String, privateKeyFile: String) throws -> TLSConfiguration
    {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateChainFile).map {
            NIOSSLCertificateSource.certificate($0)
        }
        return TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: privateKeyFile, format: .pem)))
    }
}
