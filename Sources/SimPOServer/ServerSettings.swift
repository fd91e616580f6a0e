import HummingbirdTLS
import NIOSSL

/// Everything the server can be told at start-up.
public struct ServerSettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Larger request bodies get 413 without being read.
    public var maximumBodySize = 64 * 1024 * 1024
    /// Connections idle for this long are closed; nil keeps them open.
    public var idleTimeout: Duration? = .seconds(60)
    /// How long a request body may take to arrive; a slower one gets 408 and the
    /// connection is closed (a stalled one is closed by `idleTimeout` anyway).
    public var bodyTimeout: Duration = .seconds(30)
    /// How long `/ready` reports 503 before the server stops accepting connections.
    public var drainDelay: Duration = .zero
    /// When set, `/v1/*` (and `/metrics` if `metricsRequireToken`) need one of these bearer tokens.
    public var bearerTokens: BearerTokens?
    public var metricsRequireToken = false
    /// Requests held at once; more get 503 with Retry-After.
    public var maximumInFlightRequests = 256
    /// Request-body bytes held at once (by Content-Length, or `maximumBodySize` when
    /// undeclared); a request that would exceed it gets 503 before its body is read.
    public var maximumInFlightBytes = 1 << 30
    /// When set, the server speaks HTTPS only, with this certificate and key.
    public var tls: TLSConfiguration?
    /// Whether responses are gzip-compressed for clients whose Accept-Encoding asks for it.
    public var compressResponses = true

    public init() {}
}

extension ServerSettings {
    /// A TLS server configuration from a PEM certificate chain and a PEM private key.
    public static func tlsConfiguration(certificateChainFile: String, privateKeyFile: String) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateChainFile).map { NIOSSLCertificateSource.certificate($0) }
        return TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: privateKeyFile, format: .pem)))
    }
}
