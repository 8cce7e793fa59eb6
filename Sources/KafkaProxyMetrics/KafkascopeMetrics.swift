public import KafkaCodec
public import Prometheus

/// The metrics of one Kafkascope process: the registry `/metrics` renders, the label caps, and the cold-path
/// events. Per-request metrics go through an `ExchangeRecorder` per connection, which keeps its handles.
public final class KafkascopeMetrics: Sendable {
    public static let defaultLabelCap = 500

    public let registry: PrometheusCollectorRegistry
    /// False with `--no-metrics`: nothing reads per-request metrics then, so the proxy skips decoding and timing.
    public let recordsExchanges: Bool
    let topics: LabelLimiter
    let clients: LabelLimiter
    let clientSoftware: LabelLimiter
    let principals: LabelLimiter
    let topicDirectory = TopicDirectory()
    /// Every client seen and the API versions it used (`GET /clients`); ids capped as the `client_id` label is.
    public let clientDirectory: ClientDirectory

    public init(
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        labelCap: Int = KafkascopeMetrics.defaultLabelCap,
        recordsExchanges: Bool = true
    ) {
        self.registry = registry
        self.recordsExchanges = recordsExchanges
        let folded = { @Sendable (label: String) in
            registry.makeCounter(descriptor: MetricFamily.labelValuesFolded.descriptor, labels: [("label", label)])
        }
        let topicFolds = folded("topic")
        let clientFolds = folded("client_id")
        let softwareFolds = folded("client_software")
        let principalFolds = folded("principal")
        self.topics = LabelLimiter(cap: labelCap) { topicFolds.increment() }
        self.clients = LabelLimiter(cap: labelCap) { clientFolds.increment() }
        self.clientDirectory = ClientDirectory(limiter: self.clients)
        self.clientSoftware = LabelLimiter(cap: labelCap) { softwareFolds.increment() }
        self.principals = LabelLimiter(cap: labelCap) { principalFolds.increment() }
        self.gauge(.buildInfo, [("version", KafkascopeVersion.current)]).set(to: 1)
        for side in ["client", "broker"] {
            _ = self.counter(.connections, [("side", side)])
            _ = self.gauge(.connectionsActive, [("side", side)])
        }
    }

    /// The Prometheus text exposition of everything recorded so far.
    public func exposition() -> [UInt8] {
        self.registry.emitToBuffer()
    }

    /// A recorder for one connection from `client` (ip:port) to `broker` (a node id, or `bootstrap`).
    public func recorder(broker: String, client: String?) -> ExchangeRecorder {
        ExchangeRecorder(metrics: self, broker: broker, client: client)
    }

    // MARK: Cold-path events

    public func connectionOpened(side: String) {
        self.counter(.connections, [("side", side)]).increment()
        self.gauge(.connectionsActive, [("side", side)]).increment()
    }

    public func connectionClosed(side: String) {
        self.gauge(.connectionsActive, [("side", side)]).decrement()
    }

    public func connectionError(side: String, reason: String) {
        self.counter(.connectionErrors, [("side", side), ("reason", reason)]).increment()
    }

    public func addressesRewritten(api: APIKey) {
        self.counter(.addressRewrites, [("api", api.name)]).increment()
    }

    public func versionClamped(api: APIKey) {
        self.counter(.versionsClamped, [("api", api.name)]).increment()
    }

    public func frameUndecoded(direction: String, reason: UndecodedReason) {
        self.counter(.framesUndecoded, [("direction", direction), ("reason", reason.rawValue)]).increment()
    }

    /// `mechanism` is bounded by the caller to the known mechanisms.
    public func saslAuthentication(mechanism: String, succeeded: Bool) {
        self.counter(.saslAuthentications, [("mechanism", mechanism), ("outcome", succeeded ? "success" : "failure")]).increment()
    }

    public func tlsReload(outcome: String) {
        self.counter(.tlsReloads, [("outcome", outcome)]).increment()
    }

    public func listenerError(reason: String) {
        self.counter(.listenerErrors, [("reason", reason)]).increment()
    }

    // MARK: Handles

    func counter(_ family: MetricFamily, _ labels: [(String, String)]) -> Counter {
        self.registry.makeCounter(descriptor: family.descriptor, labels: labels)
    }

    func gauge(_ family: MetricFamily, _ labels: [(String, String)]) -> Gauge {
        self.registry.makeGauge(descriptor: family.descriptor, labels: labels)
    }

    func latencyHistogram(_ family: MetricFamily, _ labels: [(String, String)]) -> DurationHistogram {
        self.registry.makeDurationHistogram(descriptor: family.descriptor, labels: labels, buckets: MetricBuckets.latency)
    }

    func throttleHistogram(api: APIKey) -> ValueHistogram {
        self.registry.makeValueHistogram(
            descriptor: MetricFamily.throttle.descriptor, labels: [("api", WireLabels.api(api))], buckets: MetricBuckets.throttle)
    }
}

/// Why a frame was forwarded without being decoded.
public enum UndecodedReason: String, Sendable {
    case unknownAPI = "unknown_api"
    case unsupportedVersion = "unsupported_version"
    case malformed
}
