public import KafkaCodec
public import Logging
public import NIOCore
import Prometheus

/// Records one connection's requests and responses into the metrics: decodes each frame with the shared codec,
/// counts it, and reads its `MessageFacts`.
///
/// It belongs to one connection and is used from that connection's event loop only. Every handle it needs is
/// looked up in the registry once and kept, so a request costs dictionary lookups on integer keys, atomic
/// increments and the per-series lock of the histograms it records into; no string is formatted.
public final class ExchangeRecorder {
    private struct APIHandles {
        let requestDuration: DurationHistogram
        let brokerDuration: DurationHistogram
        let requestBytes: Counter
        let responseBytes: Counter
        let throttle: ValueHistogram
    }

    private struct TopicHandles {
        let records: Counter
        let bytes: Counter
    }

    private enum RecordDirection {
        case produced, fetched
    }

    private struct TopicKey: Hashable {
        let topic: String
        let direction: RecordDirection
    }

    private let metrics: KafkascopeMetrics
    private let broker: String
    private let inflight: Gauge
    private var apis: [Int16: APIHandles] = [:]
    private var requestCounters: [Int32: Counter] = [:]
    private var errorCounters: [Int32: Counter] = [:]
    /// Per topic, produced then fetched.
    /// Keyed by the names in frames, which a client chooses freely: emptied when it reaches `topicCacheLimit`, so
    /// that one connection naming endless topics does not grow it without end (the series are capped anyway).
    private var topics: [TopicKey: TopicHandles] = [:]
    private static let topicCacheLimit = 1024
    private var topicNames: [KafkaUUID: String] = [:]
    private var client: Gauge?
    /// Counts this connection's requests under the principal it authenticated as, once it has.
    private var principalRequests: Counter?
    /// Notes every request in the readiness view.
    private var sightings: ClientSightings
    /// Requests at versions Kafka 4.0 removed, by API and version, for the client id they were last counted under.
    private var removedCounters: (clientID: String, counters: [Int32: Counter])?
    /// Requests counted in `inflight` and not yet answered, given back when the connection closes.
    private var outstanding = 0
    /// What consumer lag keeps of this connection: the requests awaiting their answers, and what Produce answers
    /// said of the logs until `applyProducedLogs`.
    private var lag = ConnectionLag()
    /// Where values that cannot be true are noted at debug; the capture analyzer gives none.
    public var logger: Logger?
    /// The client's ip:port, for the readiness view.
    public var clientAddress: String? {
        get { self.sightings.address }
        set { self.sightings.address = newValue }
    }
    /// Values that cannot be true, in every frame this connection carried.
    public private(set) var invalidValues = 0
    /// Takes each exchange as a JSON line (`--exchange-log`), in the schema of `kafkascope pcap --format jsonl`.
    public var exchangeLog: ((String) -> Void)?
    /// The broker's ip:port, for the exchange log.
    public var brokerAddress = ""
    /// Requests awaiting their response, for the exchange log; answers come in request order.
    private var loggedRequests = CircularBuffer<LoggedRequest>(initialCapacity: 1)

    private struct LoggedRequest {
        var header: RequestHeaderPrefix
        var time: Int64
        var bytes: Int
        var clientID: String?
        var facts: MessageFacts?
    }

    init(metrics: KafkascopeMetrics, broker: String, client: String?) {
        self.metrics = metrics
        self.broker = broker
        self.inflight = metrics.gauge(.inflight, [("broker", broker)])
        self.sightings = ClientSightings(directory: metrics.clientDirectory, address: client)
    }

    /// A whole request frame read from the client (`payload` is the frame without its size prefix) at
    /// `microseconds` since the epoch (the wall clock when nil). Returns why it could not be decoded, if it could not.
    @discardableResult
    public func requestRead(
        _ payload: ByteBuffer, header: RequestHeaderPrefix, frameBytes: Int, expectsResponse: Bool, at microseconds: Int64? = nil
    ) -> KafkaDecodingError? {
        self.request(header, head: payload, frameBytes: frameBytes, expectsResponse: expectsResponse, at: microseconds) {
            listing throws(KafkaDecodingError) in
            try KafkaCodec.inspectRequest(payload, listingTopics: listing).facts
        }
    }

    /// A request that streamed through in parts, followed by `skeleton`; `head` holds its first bytes.
    @discardableResult
    public func requestRead(
        _ skeleton: FrameSkeleton, head: ByteBuffer, header: RequestHeaderPrefix, frameBytes: Int, expectsResponse: Bool,
        at microseconds: Int64? = nil
    ) -> KafkaDecodingError? {
        self.request(header, head: head, frameBytes: frameBytes, expectsResponse: expectsResponse, at: microseconds) {
            listing throws(KafkaDecodingError) in
            try skeleton.inspectRequest(listingTopics: listing).facts
        }
    }

    /// A whole response frame read from the broker, answering a request of `apiKey` at `apiVersion`.
    /// `frameBytes` is what the client receives, after any rewriting.
    @discardableResult
    public func responseRead(
        _ payload: ByteBuffer, apiKey: APIKey, apiVersion: Int16, frameBytes: Int, brokerDuration: Duration?,
        at microseconds: Int64? = nil
    ) -> KafkaDecodingError? {
        self.responseRead(
            self.readFacts(ofResponse: payload, apiKey: apiKey, apiVersion: apiVersion), apiKey: apiKey, frameBytes: frameBytes,
            brokerDuration: brokerDuration, at: microseconds)
    }

    /// The facts of a whole response frame, as `responseRead` reads them: for callers that need them too, so that a
    /// frame is read once (the proxy's rewriter asks whether a response carries tagged fields).
    public func readFacts(ofResponse payload: ByteBuffer, apiKey: APIKey, apiVersion: Int16) -> Result<MessageFacts?, KafkaDecodingError> {
        Result { () throws(KafkaDecodingError) in
            try KafkaCodec.inspectResponse(payload, apiKey: apiKey, apiVersion: apiVersion, listingTopics: self.exchangeLog != nil)
        }
    }

    /// A whole response whose facts were read by `readFacts(ofResponse:apiKey:apiVersion:)`.
    @discardableResult
    public func responseRead(
        _ facts: Result<MessageFacts?, KafkaDecodingError>, apiKey: APIKey, frameBytes: Int, brokerDuration: Duration?,
        at microseconds: Int64? = nil
    ) -> KafkaDecodingError? {
        self.response(apiKey, frameBytes: frameBytes, brokerDuration: brokerDuration, at: microseconds) {
            _ throws(KafkaDecodingError) in try facts.get()
        }
    }

    /// A response that streamed through in parts, followed by `skeleton`.
    @discardableResult
    public func responseRead(
        _ skeleton: FrameSkeleton, apiKey: APIKey, frameBytes: Int, brokerDuration: Duration?, at microseconds: Int64? = nil
    ) -> KafkaDecodingError? {
        self.response(apiKey, frameBytes: frameBytes, brokerDuration: brokerDuration, at: microseconds) {
            listing throws(KafkaDecodingError) in
            try skeleton.inspectResponse(listingTopics: listing)
        }
    }

    /// What every request read goes through, whole or followed in parts: counted, its facts read by `inspect`
    /// (given whether to list topics, which only the exchange log needs), logged, and recorded.
    private func request(
        _ header: RequestHeaderPrefix, head: ByteBuffer, frameBytes: Int, expectsResponse: Bool, at microseconds: Int64?,
        inspect: (Bool) throws(KafkaDecodingError) -> MessageFacts?
    ) -> KafkaDecodingError? {
        let time = microseconds ?? WallClock.microseconds()
        let clientID = self.requestCounted(header, head: head, frameBytes: frameBytes, expectsResponse: expectsResponse, at: time)
        let facts = FrameFacts(Result { () throws(KafkaDecodingError) in try inspect(self.exchangeLog != nil) }, apiKey: header.apiKey)
        self.logRequest(header, at: time, bytes: frameBytes, clientID: clientID, facts: facts, expectsResponse: expectsResponse)
        let keptForLag = expectsResponse && self.tracksLag(header.apiKey) && LagRequest.isKept(header.apiKey)
        return self.requestDecoded(facts, keptForLag: keptForLag ? header.apiKey : nil)
    }

    /// What every response read goes through, as `request` for requests.
    private func response(
        _ apiKey: APIKey, frameBytes: Int, brokerDuration: Duration?, at microseconds: Int64?,
        inspect: (Bool) throws(KafkaDecodingError) -> MessageFacts?
    ) -> KafkaDecodingError? {
        self.responseCounted(apiKey, frameBytes: frameBytes, brokerDuration: brokerDuration)
        let facts = FrameFacts(Result { () throws(KafkaDecodingError) in try inspect(self.exchangeLog != nil) }, apiKey: apiKey)
        if let request = self.loggedRequests.popFirst() {
            self.log(request, response: (frameBytes, microseconds ?? WallClock.microseconds(), facts.facts))
        }
        return self.responseDecoded(facts, apiKey: apiKey, at: microseconds)
    }

    /// The connection authenticated (or re-authenticated) as `principal`; later requests count under it.
    public func authenticated(as principal: String) {
        let label = self.metrics.principals.admit(principal)
        self.principalRequests = self.metrics.counter(.principalRequests, [("principal", label)])
        self.sightings.principal = principal
    }

    /// Counts a request; gives the client id it names.
    private func requestCounted(
        _ header: RequestHeaderPrefix, head: ByteBuffer, frameBytes: Int, expectsResponse: Bool, at microseconds: Int64
    ) -> String {
        self.requestCounter(header.apiKey, header.apiVersion).increment()
        let client = self.sightings.request(head, header: header, at: microseconds)
        if self.client == nil { self.identifyClient(client) }
        if header.isRemovedInKafka4 { self.removedCounter(header, clientID: client.clientID).increment() }
        self.principalRequests?.increment()
        self.handles(header.apiKey).requestBytes.add(frameBytes)
        if expectsResponse {
            self.inflight.increment()
            self.outstanding += 1
        }
        return client.clientID
    }

    private func requestDecoded(_ read: FrameFacts, keptForLag: APIKey?) -> KafkaDecodingError? {
        switch read {
        case .malformed(let error):
            self.metrics.frameUndecoded(direction: "request", reason: .malformed)
            if let api = keptForLag { self.lag.requestedUnread(api) }
            return error
        case .beyondSchemas(let reason):
            self.metrics.frameUndecoded(direction: "request", reason: reason)
            if let api = keptForLag { self.lag.requestedUnread(api) }
        case .facts(let api, let read):
            self.countInvalid(read.invalidValues, direction: "request", api: api)
            self.countRecords(read.records, direction: .produced)
            // Given the facts bound here: taking them out of `read` again would copy them.
            if let api = keptForLag { self.lag.requested(api, facts: read) }
        }
        return nil
    }

    private func responseCounted(_ apiKey: APIKey, frameBytes: Int, brokerDuration: Duration?) {
        let handles = self.handles(apiKey)
        handles.responseBytes.add(frameBytes)
        if self.outstanding > 0 {
            self.inflight.decrement()
            self.outstanding -= 1
        }
        if let brokerDuration { handles.brokerDuration.recordClamped(brokerDuration) }
    }

    private func responseDecoded(_ read: FrameFacts, apiKey: APIKey, at microseconds: Int64?) -> KafkaDecodingError? {
        switch read {
        case .malformed(let error):
            self.metrics.frameUndecoded(direction: "response", reason: .malformed)
            if self.tracksLag(apiKey) { self.lag.answeredUnread(apiKey) }
            return error
        case .beyondSchemas(let reason):
            self.metrics.frameUndecoded(direction: "response", reason: reason)
            if self.tracksLag(apiKey) { self.lag.answeredUnread(apiKey) }
        case .facts(_, let facts):
            self.countInvalid(facts.invalidValues, direction: "response", api: apiKey)
            if let throttle = facts.throttleMilliseconds { self.handles(apiKey).throttle.record(Double(throttle) / 1000) }
            if !facts.topicNames.isEmpty {
                self.metrics.topicDirectory.learn(facts.topicNames)
                self.topicNames.merge(facts.topicNames) { _, new in new }
            }
            for error in facts.errors { self.errorCounter(apiKey, error.code).increment() }
            self.countRecords(facts.records, direction: .fetched)
            self.lagAnswered(apiKey, response: facts, at: microseconds)
        }
        return nil
    }

    // MARK: Consumer lag

    private func tracksLag(_ api: APIKey) -> Bool {
        self.metrics.consumerLag != nil && ConsumerLag.isRelevant(api)
    }

    /// A readable answer of `api`, paired with its kept request and read for lag.
    private func lagAnswered(_ api: APIKey, response: MessageFacts, at microseconds: Int64?) {
        guard let consumerLag = self.metrics.consumerLag, ConsumerLag.isRelevant(api) else { return }
        let time = microseconds ?? WallClock.microseconds()
        guard let request = self.lag.answered(api, response: response, at: time) else { return }
        consumerLag.observe(api, request: request, response: response, at: time) { self.topicLabel($0) }
    }

    /// Whether Produce answers said something of the logs that `applyProducedLogs` has not yet applied.
    public var holdsProducedLogs: Bool {
        !self.lag.logs.isEmpty
    }

    /// What the Produce answers read so far said of the logs goes into consumer lag now, in one step (see
    /// `ProducedLogs`). The proxy calls this a while after the first answer it holds, the capture after each answer,
    /// and `closed` at the end.
    public func applyProducedLogs() {
        self.metrics.consumerLag?.apply(&self.lag.logs) { self.topicLabel($0) }
    }

    /// The response reached the client `duration` after its request had been read.
    public func responseDelivered(apiKey: APIKey, after duration: Duration) {
        self.handles(apiKey).requestDuration.recordClamped(duration)
    }

    // MARK: Exchange log

    private func logRequest(
        _ header: RequestHeaderPrefix, at time: Int64, bytes: Int, clientID: String, facts: FrameFacts, expectsResponse: Bool
    ) {
        guard self.exchangeLog != nil else { return }
        let request = LoggedRequest(header: header, time: time, bytes: bytes, clientID: clientID, facts: facts.facts)
        if expectsResponse {
            self.loggedRequests.append(request)
        } else {
            self.log(request, unanswered: .noResponseExpected)
        }
    }

    /// Writes a request's line: with its `response` (bytes, time read, facts), or `unanswered` and why.
    private func log(
        _ request: LoggedRequest, response: (bytes: Int, time: Int64, facts: MessageFacts?)? = nil,
        unanswered: UnansweredReason? = nil
    ) {
        self.exchangeLog?(ExchangeLine(
            requestTime: request.time, latencyMicroseconds: response.map { max(0, $0.time - request.time) },
            client: self.clientAddress ?? "", broker: self.brokerAddress, header: request.header, clientID: request.clientID,
            requestBytes: request.bytes, responseBytes: response?.bytes, requestPacket: nil, responsePacket: nil,
            unanswered: unanswered
        ).json(requestFacts: request.facts, responseFacts: response?.facts, decoded: nil) { self.topicName($0) })
    }

    /// The connection closed: its unanswered requests never will be.
    public func closed() {
        self.applyProducedLogs()
        while let request = self.loggedRequests.popFirst() { self.log(request, unanswered: .connectionClosed) }
        if self.outstanding > 0 { self.inflight.decrement(by: Double(self.outstanding)) }
        self.outstanding = 0
        self.client?.decrement()
        self.client = nil
    }

    // MARK: Handles

    private func handles(_ key: APIKey) -> APIHandles {
        let api = WireLabels.bounded(key)
        if let handles = self.apis[api.rawValue] { return handles }
        let labels = [("api", WireLabels.api(api)), ("broker", self.broker)]
        let handles = APIHandles(
            requestDuration: self.metrics.latencyHistogram(.requestDuration, labels),
            brokerDuration: self.metrics.latencyHistogram(.brokerDuration, labels),
            requestBytes: self.metrics.counter(.requestBytes, labels),
            responseBytes: self.metrics.counter(.responseBytes, labels),
            throttle: self.metrics.throttleHistogram(api: api))
        self.apis[api.rawValue] = handles
        return handles
    }

    private func requestCounter(_ key: APIKey, _ stated: Int16) -> Counter {
        let (api, version) = (WireLabels.bounded(key), WireLabels.bounded(stated, of: key))
        let key = Int32(api.rawValue) << 16 | Int32(UInt16(bitPattern: version))
        if let counter = self.requestCounters[key] { return counter }
        let counter = self.metrics.counter(
            .requests, [("api", WireLabels.api(api)), ("version", WireLabels.version(version, of: api)), ("broker", self.broker)])
        self.requestCounters[key] = counter
        return counter
    }

    private func removedCounter(_ header: RequestHeaderPrefix, clientID: String) -> Counter {
        if self.removedCounters?.clientID != clientID { self.removedCounters = (clientID, [:]) }
        let key = Int32(header.apiKey.rawValue) << 16 | Int32(UInt16(bitPattern: header.apiVersion))
        if let counter = self.removedCounters?.counters[key] { return counter }
        let counter = self.metrics.counter(.removedVersionRequests, [
            ("api", header.apiKey.name), ("version", String(header.apiVersion)), ("client_id", clientID),
        ])
        self.removedCounters?.counters[key] = counter
        return counter
    }

    private func errorCounter(_ api: APIKey, _ stated: Int16) -> Counter {
        let code = WireLabels.bounded(error: stated)
        let key = Int32(api.rawValue) << 16 | Int32(UInt16(bitPattern: code))
        if let counter = self.errorCounters[key] { return counter }
        let counter = self.metrics.counter(.errors, [("api", WireLabels.api(api)), ("error", WireLabels.error(code))])
        self.errorCounters[key] = counter
        return counter
    }

    private func countRecords(_ traffic: [RecordTraffic], direction: RecordDirection) {
        for entry in traffic where entry.tally.bytes > 0 {
            let key = TopicKey(topic: self.topicLabel(entry.topic), direction: direction)
            let handles: TopicHandles
            if let cached = self.topics[key] {
                handles = cached
            } else {
                if self.topics.count >= Self.topicCacheLimit { self.topics.removeAll(keepingCapacity: true) }
                let labels = [("topic", self.metrics.topics.admit(key.topic))]
                handles = switch direction {
                case .produced:
                    TopicHandles(
                        records: self.metrics.counter(.producedRecords, labels), bytes: self.metrics.counter(.producedBytes, labels))
                case .fetched:
                    TopicHandles(
                        records: self.metrics.counter(.fetchedRecords, labels), bytes: self.metrics.counter(.fetchedBytes, labels))
                }
                self.topics[key] = handles
            }
            handles.records.add(entry.tally.records)
            handles.bytes.add(entry.tally.bytes)
        }
    }

    /// Values that cannot be true were left out of the facts; they are counted and noted, never recorded.
    private func countInvalid(_ invalid: InvalidValues, direction: String, api: APIKey) {
        guard !invalid.isEmpty else { return }
        self.invalidValues += invalid.total
        for (value, count) in invalid.nonZero {
            self.metrics.counter(.invalidValues, [("field", value.rawValue), ("direction", direction)]).add(count)
        }
        self.logger?.debug("values that cannot be true; left out of the metrics, frame forwarded as is", metadata: [
            "kafka.api": "\(api.name)", "kafka.direction": "\(direction)",
            "kafka.invalid_values": "\(invalid.nonZero.map { "\($0.0.rawValue)=\($0.1)" }.joined(separator: ","))",
        ])
    }

    /// A topic's name, looked up by id when the message gives only the id.
    private func topicLabel(_ topic: TopicReference?) -> String {
        topic.flatMap(self.topicName) ?? topic?.id?.base64 ?? ""
    }

    /// A topic's name: as the frame names it, else as Metadata named its id (kept for the connection once found).
    private func topicName(_ topic: TopicReference) -> String? {
        if let name = topic.name { return name }
        guard let id = topic.id else { return nil }
        if let name = self.topicNames[id] { return name }
        if let name = self.metrics.topicDirectory.name(of: id) {
            self.topicNames[id] = name
            return name
        }
        return nil
    }

    /// Counts the client in `kafkascope_clients` once per connection, from its first request: its id as the
    /// directory admitted it, and the software it named in ApiVersions v3+, which comes first.
    private func identifyClient(_ entry: ClientDirectory.Entry) {
        var software = entry.software.map { ($0.name, $0.version) } ?? ("unknown", "unknown")
        if self.metrics.clientSoftware.admit("\(software.0) \(software.1)") == LabelLimiter.other {
            software = (LabelLimiter.other, LabelLimiter.other)
        }
        let gauge = self.metrics.gauge(.clients, [
            ("client_id", entry.clientID), ("software_name", software.0), ("software_version", software.1),
        ])
        gauge.increment()
        self.client = gauge
    }
}

@available(*, unavailable)
extension ExchangeRecorder: Sendable {}

extension Counter {
    /// Adds `amount`; swift-prometheus traps on a negative increment, so none reaches it.
    func add(_ amount: Int) {
        if amount > 0 { self.increment(by: Int64(amount)) }
    }
}

extension Histogram where Value == Duration {
    /// Records `duration`, or zero for a negative one: swift-prometheus cannot render a negative duration.
    func recordClamped(_ duration: Duration) {
        self.record(max(.zero, duration))
    }
}

extension UndecodedReason {
    init(_ reason: OpaqueFrame.Reason) {
        switch reason {
        case .unknownAPIKey: self = .unknownAPI
        case .unsupportedVersion: self = .unsupportedVersion
        }
    }
}
