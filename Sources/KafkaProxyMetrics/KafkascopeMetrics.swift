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
    /// Consumer-group lag from the traffic recorded (`GET /lag`, the lag families); nil when not tracked.
    public let consumerLag: ConsumerLag?
    let groups: LabelLimiter
    /// Whether lag is rendered as of the wall clock (a proxy) or of the newest traffic seen (a capture).
    private let lagAsOfWallClock: Bool
    /// Back-pressure handles, made up front: pauses come at request rates under a pipelining client.
    private let pauses: [ReadPause: Counter]
    private let pausedSeconds: [ConnectionSide: Counter]

    public init(
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        labelCap: Int = KafkascopeMetrics.defaultLabelCap,
        recordsExchanges: Bool = true,
        lag: LagSettings? = LagSettings(),
        lagAsOfWallClock: Bool = true
    ) {
        self.registry = registry
        self.recordsExchanges = recordsExchanges
        self.consumerLag = recordsExchanges ? lag.map(ConsumerLag.init) : nil
        self.lagAsOfWallClock = lagAsOfWallClock
        let counter = { @Sendable (family: MetricFamily, labels: [(String, String)]) in
            registry.makeCounter(descriptor: family.descriptor, labels: labels)
        }
        let folded = { @Sendable (label: String) in counter(.labelValuesFolded, [("label", label)]) }
        let topicFolds = folded("topic")
        let clientFolds = folded("client_id")
        let softwareFolds = folded("client_software")
        let principalFolds = folded("principal")
        let groupFolds = folded("group")
        self.groups = LabelLimiter(cap: labelCap) { groupFolds.increment() }
        self.topics = LabelLimiter(cap: labelCap) { topicFolds.increment() }
        self.clients = LabelLimiter(cap: labelCap) { clientFolds.increment() }
        self.clientDirectory = ClientDirectory(limiter: self.clients)
        self.clientSoftware = LabelLimiter(cap: labelCap) { softwareFolds.increment() }
        self.principals = LabelLimiter(cap: labelCap) { principalFolds.increment() }
        self.pauses = Dictionary(uniqueKeysWithValues: ReadPause.allCases.map {
            ($0, counter(.readsPaused, [("side", $0.side.rawValue), ("reason", $0.rawValue)]))
        })
        self.pausedSeconds = Dictionary(uniqueKeysWithValues: ConnectionSide.allCases.map {
            ($0, counter(.readsPausedSeconds, [("side", $0.rawValue)]))
        })
        self.gauge(.buildInfo, [("version", KafkascopeVersion.current)]).set(to: 1)
        for side in ConnectionSide.allCases {
            _ = self.counter(.connections, [("side", side.rawValue)])
            _ = self.gauge(.connectionsActive, [("side", side.rawValue)])
        }
    }

    /// The Prometheus text exposition of everything recorded so far.
    public func exposition() -> [UInt8] {
        var text = self.registry.emitToBuffer()
        if let snapshot = self.lagSnapshot() {
            text += snapshot.exposition { name, value in (name == "group" ? self.groups : self.topics).admit(value) }.utf8
        }
        return text
    }

    /// Consumer lag as of now (a proxy) or of the newest traffic (a capture); nil when lag is not tracked.
    public func lagSnapshot() -> LagSnapshot? {
        self.consumerLag?.snapshot(now: self.lagAsOfWallClock ? WallClock.microseconds() : nil)
    }

    /// A recorder for one connection from `client` (ip:port) to `broker` (a node id, or `bootstrap`).
    public func recorder(broker: String, client: String?) -> ExchangeRecorder {
        ExchangeRecorder(metrics: self, broker: broker, client: client)
    }

    // MARK: Cold-path events

    public func connectionOpened(side: ConnectionSide) {
        self.counter(.connections, [("side", side.rawValue)]).increment()
        self.gauge(.connectionsActive, [("side", side.rawValue)]).increment()
    }

    public func connectionClosed(side: ConnectionSide) {
        self.gauge(.connectionsActive, [("side", side.rawValue)]).decrement()
    }

    public func connectionError(side: ConnectionSide, reason: String) {
        self.counter(.connectionErrors, [("side", side.rawValue), ("reason", reason)]).increment()
    }

    /// A connection closed with a request of `api` still awaiting its response; `reason` is why it closed (an error
    /// code, or `client_closed`).
    public func requestUnanswered(api: APIKey, reason: String) {
        self.counter(.requestsUnanswered, [("api", WireLabels.api(api)), ("reason", reason)]).increment()
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

    /// The proxy process started, `seconds` after the epoch: a restart shows as a new value.
    public func processStarted(atEpochSeconds seconds: Double) {
        self.gauge(.startTime, []).set(to: seconds)
    }

    /// A side's reads paused for back-pressure; counted as the pause begins, timed by `readsResumed`.
    public func readsPaused(_ reason: ReadPause) {
        self.pauses[reason]?.increment()
    }

    /// A pause of `side`'s reads ended, or its connection closed, after `nanoseconds`.
    public func readsResumed(side: ConnectionSide, afterNanoseconds nanoseconds: Int64) {
        self.pausedSeconds[side]?.increment(by: Double(max(0, nanoseconds)) / 1e9)
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
