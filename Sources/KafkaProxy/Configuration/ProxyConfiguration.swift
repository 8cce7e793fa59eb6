/// Everything the proxy needs to run, with the defaults a sidecar wants.
public struct ProxyConfiguration: Sendable {
    /// The upstream cluster's bootstrap brokers; the bootstrap listener connects to the first that answers.
    public var bootstrapServers: [HostAndPort]
    /// Where clients bootstrap.
    public var listen: HostAndPort
    /// The host written into rewritten responses; defaults to the listen host.
    public var advertisedHost: String?
    /// Broker node `N` gets a listener on `brokerPortBase + N`; defaults to the listen port plus one.
    public var brokerPortBase: Int?
    /// Requests above this size close their connection (the broker's `socket.request.max.bytes` default).
    public var maxFrameBytes: Int
    /// Responses above this size close their connection; at least `maxFrameBytes`.
    public var maxResponseFrameBytes: Int
    public var maxConnections: Int
    /// A client connection with no traffic either way for this long is closed.
    public var idleTimeout: Duration
    /// On SIGTERM or SIGINT, in-flight requests get this long to finish.
    public var drainTimeout: Duration
    /// Requests a client may have in flight on one connection before the proxy stops reading from it.
    /// librdkafka pipelines up to `max.in.flight` (5 by default for idempotence, up to 1,000,000 configured).
    public var maxInFlightRequests: Int
    public var connectTimeout: Duration
    /// Where to record both legs of every connection as pcap; nil records nothing.
    public var recordPath: String?
    /// Start a new recording file once this many bytes are written; nil never rotates.
    public var recordRotationBytes: Int?
    /// Blank SASL tokens in the recording (`--record-redact-sasl`).
    public var recordRedactsSasl: Bool
    /// Write one JSON line per exchange here (`-` for stdout), in the schema of `kafkascope pcap --format jsonl`.
    public var exchangeLogPath: String?
    /// Start a new exchange log file once this many bytes are written; nil never rotates.
    public var exchangeLogRotationBytes: Int?
    /// TLS toward clients, on the bootstrap and every broker listener; nil serves plaintext.
    public var clientTLS: ServerTLSSettings?
    /// TLS toward brokers; nil connects in plaintext.
    public var upstreamTLS: UpstreamTLSSettings?

    public init(bootstrapServers: [HostAndPort], listen: HostAndPort) {
        self.bootstrapServers = bootstrapServers
        self.listen = listen
        self.advertisedHost = nil
        self.brokerPortBase = nil
        self.maxFrameBytes = 100 * 1024 * 1024
        self.maxResponseFrameBytes = 100 * 1024 * 1024
        self.maxConnections = 10_000
        self.idleTimeout = .seconds(600)
        self.drainTimeout = .seconds(30)
        self.maxInFlightRequests = 1024
        self.connectTimeout = .seconds(10)
        self.recordPath = nil
        self.recordRotationBytes = nil
        self.recordRedactsSasl = false
        self.exchangeLogPath = nil
        self.exchangeLogRotationBytes = nil
        self.clientTLS = nil
        self.upstreamTLS = nil
    }

    public var effectiveAdvertisedHost: String { self.advertisedHost ?? self.listen.host }
    public var effectiveBrokerPortBase: Int { self.brokerPortBase ?? self.listen.port + 1 }
}
