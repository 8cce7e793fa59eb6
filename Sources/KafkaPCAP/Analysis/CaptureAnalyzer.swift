import KafkaCodec
public import KafkaProxyMetrics
import NIOCore

/// Turns captured packets into Kafka exchanges: TCP reassembly per flow, Kafka framing per direction, and pairing
/// of responses with requests by correlation id, so that every response is decoded at its request's key and
/// version.
public final class CaptureAnalyzer {
    public struct Options {
        /// Ports that mark a flow as Kafka, the broker being the side on the port; empty to detect flows by their
        /// first bytes.
        public var brokerPorts: Set<UInt16> = []
        /// Decode requests and responses for reports (summary and JSON lines).
        public var decode = true
        /// Keep every decoded request and response on the exchange (`--decode full`); otherwise only what the
        /// reports read is kept, so that record data is not held while a response is awaited.
        public var keepDecoded = false
        /// Record into these metrics, as the proxy does.
        public var metrics: KafkascopeMetrics?
        /// Without metrics: note every request's client here (with metrics, their own directory notes them).
        public var clients: ClientDirectory?
        public var maximumFrameLength = 100 * 1024 * 1024
        /// Flows with no packet for this long (capture time) are finished and forgotten.
        public var idleTimeoutMicroseconds: Int64 = 300 * 1_000_000
        /// Requests waiting for a response on one connection, at most.
        public var maximumPendingPerConnection = 10_000
        /// Read frames and build exchanges on a second thread while this one reassembles and cuts frames; the
        /// exchange handler is then called on that thread, in the same order.
        public var secondThread = false
        /// Fill in the topic list of every message's facts (`MessageFacts.topics`), which JSON lines report.
        public var listTopics = true
        /// Frame events handed to the second thread at a time.
        var batchEvents = ExchangeFeed.batchEvents
        /// Frames larger than this are read on the first thread even with a second one (see `ExchangeFeed`).
        var largestCopiedFrame = ExchangeFeed.largestCopiedFrame
        /// Frames larger than this are followed in parts rather than buffered whole (`KafkaFramer`), unless
        /// decoded messages are kept: their record data would then be missing.
        var largestBufferedFrame = 64 << 10
        /// Bytes of a followed frame kept from its start (`KafkaFramer.defaultHeadLength`).
        var followedFrameHead = KafkaFramer.defaultHeadLength
        /// What the first thread reads: nil to decide batch by batch (see `ExchangeFeed`).
        var firstThreadReads: SharedReading?

        public init() {}
    }

    /// What the analysis counted; complete once `finishAll` has returned.
    public var counters: CaptureCounters {
        var counters = self.packetCounters
        counters.exchanges = self.feed.assembler.exchanges
        counters.undecodable += self.feed.assembler.undecodable
        counters.invalidValues += self.feed.assembler.invalidValues
        return counters
    }

    private var packetCounters = CaptureCounters()
    /// Broker ports found by detection (or given).
    public private(set) var brokerPorts: Set<UInt16>
    private let options: Options
    private let feed: ExchangeFeed
    private var connections: [FlowKey: TrackedConnection] = [:]
    /// Connections of recent packets: a capture interleaves a few busy flows (producers, consumers, their ACKs),
    /// and comparing a few keys is cheaper than hashing one for every packet.
    private var recentConnections: [(key: FlowKey, connection: TrackedConnection)] = []
    private var nextRecentSlot = 0
    private static let recentConnectionCount = 4
    private var lastSweep: Int64?
    /// The last packet time within `CaptureTime`'s range.
    private var lastTimestamp: Int64?
    /// Frames followed in parts rather than buffered whole (see `Options.largestBufferedFrame`).
    private(set) var followedFrames = 0

    /// `onExchange` gets each exchange with the topic names known at that point of the capture; it is called on
    /// the second thread if there is one, and should then touch nothing the caller's thread uses.
    public init(options: Options, onExchange: @escaping (Exchange, TopicNames) -> Void) {
        self.options = options
        self.brokerPorts = options.brokerPorts
        self.feed = ExchangeFeed(options: options, onExchange: onExchange)
    }

    deinit {
        // The worker may still handle events that refer to connections unowned: it must be done before they go.
        self.feed.finish()
    }

    /// Processes packet number `number` (1-based, counting every packet of the source).
    public func process(_ packet: CapturedPacket, linkType: Int32, number: Int) {
        self.packetCounters.packets += 1
        // A time the capture cannot mean is counted, and the packet keeps the last time that made sense.
        let timestamp: Int64
        if let stated = packet.timestamp {
            timestamp = stated
            self.lastTimestamp = stated
        } else {
            self.packetCounters.timestampsOutOfRange += 1
            timestamp = self.lastTimestamp ?? 0
        }
        guard let segment = TCPSegment.parse(packet, linkType: linkType) else { return }
        if let lastSweep = self.lastSweep {
            if CaptureTime.elapsed(from: lastSweep, to: timestamp) > 10_000_000 { self.sweepIdle(now: timestamp) }
        } else {
            self.lastSweep = timestamp
        }
        guard let connection = self.connection(for: segment, timestamp: timestamp) else { return }
        // The rest on a borrowed reference: each local copy of one held here (the lookup's result, a closure's
        // capture) cost a reference count change, several for every packet.
        self.process(segment, packet: number, timestamp: timestamp, on: connection)
    }

    /// The connection a segment belongs to, opened if need be; nil for a segment that opens nothing.
    private func connection(for segment: TCPSegment, timestamp: Int64) -> TrackedConnection? {
        let key = FlowKey(segment.source, segment.destination)
        let opening = segment.flags.contains(.syn) && !segment.flags.contains(.ack)
        if let recent = self.recentConnection(key), !(opening && recent.carriedData) { return recent }
        // A stray ACK, FIN or RST after a flow ended (or before the capture saw it carry data) opens nothing.
        let existing = self.connections[key]
        guard existing != nil || segment.flags.contains(.syn) || !segment.payload.isEmpty else { return nil }
        var connection = existing ?? self.open(key, timestamp: timestamp)
        if opening && connection.carriedData {
            self.finish(connection, reason: .connectionClosed)  // the 4-tuple is reused for a new connection
            connection = self.open(key, timestamp: timestamp)
        }
        self.noteRecent(connection)
        return connection
    }

    private func process(_ segment: TCPSegment, packet number: Int, timestamp: Int64, on connection: TrackedConnection) {
        connection.lastSeen = max(connection.lastSeen, timestamp)  // a packet from the past must not make it look idle
        let direction = connection.direction(from: segment.source)
        if segment.flags.contains(.syn) {
            connection.streams[direction].synchronize(initialSequence: segment.sequence)
            connection.synchronized[direction] = true
            if !segment.flags.contains(.ack) { connection.synSender = segment.source }
        }
        if segment.flags.contains(.ack), case .kafka = connection.role {
            let other = direction.reversed
            connection.streams[other].acknowledged(
                segment.acknowledgment,
                deliver: { bytes, packet in self.deliver(bytes, direction: other, packet: packet, timestamp: connection.lastSeen, on: connection) },
                gap: { self.gap($0, direction: other, on: connection) })
        }
        if !segment.payload.isEmpty || segment.missingBytes > 0 {
            connection.carriedData = true
            if segment.missingBytes > 0 { self.packetCounters.truncatedPackets += 1 }
            self.receive(segment, direction: direction, packet: number, timestamp: timestamp, on: connection)
        }
        if segment.flags.contains(.rst) {
            self.finish(connection, reason: .connectionClosed)
        } else if segment.flags.contains(.fin) {
            connection.finished[direction] = true
            if connection.finished[.forward] && connection.finished[.backward] { self.finish(connection, reason: .connectionClosed) }
        }
    }

    /// The capture is over: every flow is finished, what it still waited for is counted, and every exchange has
    /// been handed to the handler.
    public func finishAll() {
        for connection in Array(self.connections.values) { self.finish(connection, reason: .captureEnded) }
        self.feed.finish()
    }

    // MARK: Flows

    private func open(_ key: FlowKey, timestamp: Int64) -> TrackedConnection {
        let connection = TrackedConnection(key: key, timestamp: timestamp)
        self.connections[key] = connection
        self.packetCounters.flows += 1
        return connection
    }

    /// The connection with `key` if it is among the recent ones.
    private func recentConnection(_ key: FlowKey) -> TrackedConnection? {
        // By index, and keys kept beside the connections: iterating would retain and release each one.
        for index in self.recentConnections.indices where self.recentConnections[index].key == key {
            return self.recentConnections[index].connection
        }
        return nil
    }

    /// Remembers a connection found by hashing, in place of the one remembered longest ago. Not reordered on a
    /// hit: moving references about would cost more than it saves.
    private func noteRecent(_ connection: TrackedConnection) {
        if self.recentConnections.count < Self.recentConnectionCount {
            self.recentConnections.append((connection.key, connection))
        } else {
            self.recentConnections[self.nextRecentSlot] = (connection.key, connection)
            self.nextRecentSlot = (self.nextRecentSlot + 1) % Self.recentConnectionCount
        }
    }

    /// Ends a flow; `reason` is why the requests it still waits for will not be answered.
    private func finish(_ connection: TrackedConnection, reason: UnansweredReason) {
        guard self.connections.removeValue(forKey: connection.key) != nil else { return }
        if let slot = self.recentConnections.firstIndex(where: { $0.connection === connection }) {
            self.recentConnections.remove(at: slot)
            self.nextRecentSlot = 0
        }
        if case .kafka = connection.role {
            for direction in FlowDirection.allCases {
                connection.streams[direction].finish(
                    deliver: { bytes, packet in self.deliver(bytes, direction: direction, packet: packet, timestamp: connection.lastSeen, on: connection) },
                    gap: { self.gap($0, direction: direction, on: connection) })
            }
            self.packetCounters.unanswered += connection.pending.count
            for request in connection.pending.removeAll() {
                self.feed.abandoned(request.header, slot: request.slot, reason: reason, on: connection.exchanges!)
            }
            self.packetCounters.resyncs += (connection.requests?.resynchronizations ?? 0) + (connection.responses?.resynchronizations ?? 0)
            self.packetCounters.outOfWindow += connection.streams.forward.windowOverflows + connection.streams.backward.windowOverflows
            connection.recorder?.closed()
            // With metrics the recorder reads the frames (and the assembler does not): its count is the capture's.
            self.packetCounters.invalidValues += connection.recorder?.invalidValues ?? 0
            self.feed.closed(connection.exchanges!)
            self.options.metrics?.connectionClosed(side: .client)
        }
    }

    private func sweepIdle(now: Int64) {
        self.lastSweep = now
        let idle = self.connections.values.filter { CaptureTime.elapsed(from: $0.lastSeen, to: now) > self.options.idleTimeoutMicroseconds }
        for connection in idle {
            self.packetCounters.evictedFlows += 1
            self.finish(connection, reason: .flowIdle)
        }
    }

    // MARK: Streams

    private func receive(_ segment: TCPSegment, direction: FlowDirection, packet: Int, timestamp: Int64, on connection: TrackedConnection) {
        if case .undetermined(let seen) = connection.role {
            self.determineRole(of: connection, from: segment, seen: seen)
        }
        if case .other = connection.role { return }
        // Mutated in place: a copy would copy the early segments it holds on every packet.
        connection.streams[direction].receive(
            sequence: segment.sequence, payload: segment.payload, packet: packet,
            deliver: { bytes, packet in self.deliver(bytes, direction: direction, packet: packet, timestamp: timestamp, on: connection) },
            gap: { self.gap($0, direction: direction, on: connection) })
        // Bytes cut by the snaplen are a gap, when this segment was the one delivered last.
        if segment.missingBytes > 0, connection.streams[direction].nextSequence == segment.sequence &+ UInt32(segment.payload.count) {
            connection.streams[direction].skip(segment.missingBytes) { self.gap($0, direction: direction, on: connection) }
        }
    }

    /// Decides from ports, or from whether the first bytes look like a request, whether a flow is Kafka.
    private func determineRole(of connection: TrackedConnection, from segment: TCPSegment, seen: Int) {
        var client: Endpoint?
        if !self.options.brokerPorts.isEmpty {
            if self.options.brokerPorts.contains(segment.destination.port) {
                client = segment.source
            } else if self.options.brokerPorts.contains(segment.source.port) {
                client = segment.destination
            } else {
                connection.role = .other
                return
            }
        } else if self.brokerPorts.contains(segment.destination.port) {
            client = segment.source  // a port other flows showed to be a broker's
        } else if self.brokerPorts.contains(segment.source.port) {
            client = segment.destination
        } else if Self.looksLikeRequest(segment.payload) {
            client = segment.source
        } else if let sender = connection.synSender, sender != segment.source {
            connection.role = seen >= 8 ? .other : .undetermined(payloadsSeen: seen + 1)
            return
        }
        guard let client else {
            connection.role = seen >= 8 ? .other : .undetermined(payloadsSeen: seen + 1)
            return
        }
        let server = client == connection.key.first ? connection.key.second : connection.key.first
        connection.role = .kafka(client: client, server: server)
        self.brokerPorts.insert(server.port)
        self.packetCounters.kafkaFlows += 1
        let clientDirection = connection.direction(from: client)
        // A stream whose SYN was seen starts at a frame boundary; any other may start inside a frame.
        let followingThreshold = self.options.keepDecoded ? nil : self.options.largestBufferedFrame
        connection.requests = KafkaFramer(
            maximumFrameLength: self.options.maximumFrameLength,
            startsAtFrameBoundary: connection.synchronized[clientDirection] || Self.looksLikeRequest(segment.payload),
            followingThreshold: followingThreshold, headLength: self.options.followedFrameHead)
        connection.responses = KafkaFramer(
            maximumFrameLength: self.options.maximumFrameLength, startsAtFrameBoundary: connection.synchronized[clientDirection.reversed],
            followingThreshold: followingThreshold, headLength: self.options.followedFrameHead)
        connection.startExchanges(client: client, server: server)
        if let metrics = self.options.metrics {
            metrics.connectionOpened(side: .client)
            connection.recorder = metrics.recorder(broker: server.description, client: client.description)
        } else if let clients = self.options.clients {
            connection.sightings = ClientSightings(directory: clients, address: client.description)
        }
    }

    /// Whether bytes start like a request frame: a sane length, then a known API key at a version it has.
    static func looksLikeRequest(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 12 else { return false }
        let length = Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: Int32.self))
        let key = Int16(bigEndian: bytes.loadUnaligned(fromByteOffset: 4, as: Int16.self))
        let version = Int16(bigEndian: bytes.loadUnaligned(fromByteOffset: 6, as: Int16.self))
        guard length >= 10, length <= 100 * 1024 * 1024, let api = APIDescriptor.lookup(APIKey(rawValue: key)),
            api.validVersions.contains(version)
        else { return false }
        // A response with a small correlation id reads like a key and version, so the client id must hold too.
        let payload = ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[4..<min(bytes.count, 4 + Int(length), 4 + 266)]))
        return Self.plausibleRequest(payload, length: Int(length)) != false
    }

    private func deliver(_ bytes: UnsafeRawBufferPointer, direction: FlowDirection, packet: Int, timestamp: Int64, on connection: TrackedConnection) {
        guard case .kafka(let client, _) = connection.role else { return }
        let fromClient = connection.direction(from: client) == direction
        if fromClient {
            connection.requests?.append(bytes, packet: packet)
            while let frame = connection.requests?.next(plausible: Self.plausibleRequest, following: { _ in .request }) {
                self.requestFrame(frame, timestamp: timestamp, on: connection)
            }
        } else {
            connection.responses?.append(bytes, packet: packet)
            while let frame = connection.responses?.next(
                plausible: { payload, length in Self.plausibleResponse(payload, length: length, pending: connection.pending) },
                following: { head in
                    // Followed at its request's key and version; a response no request waits for is buffered, to be
                    // counted as such.
                    head.getInteger(at: head.readerIndex, as: Int32.self).flatMap(connection.pending.find).map {
                        .response($0.header.apiKey, $0.header.apiVersion)
                    }
                })
            {
                self.responseFrame(frame, timestamp: timestamp, on: connection)
            }
        }
    }

    private func gap(_ bytes: Int, direction: FlowDirection, on connection: TrackedConnection) {
        guard case .kafka(let client, _) = connection.role else { return }
        self.packetCounters.gaps += 1
        self.packetCounters.gapBytes += bytes
        if connection.direction(from: client) == direction {
            connection.requests?.gap()
        } else {
            // Responses come in request order, so the response the lost bytes cut into answers the oldest
            // request still waiting, or the one whose frame had started. Its correlation id must not let bytes
            // left over from it pass for a frame start.
            let started = connection.responses?.startedFrameCorrelationID
            let lost = if let started { connection.pending.remove(started) } else { connection.pending.removeOldest() }
            if let request = lost {
                self.packetCounters.unanswered += 1
                connection.release(request.slot)
                self.feed.abandoned(request.header, slot: request.slot, reason: .responseLost, on: connection.exchanges!)
            }
            connection.responses?.gap()
        }
    }

    /// A request frame start while resynchronizing: header fields that hold together and, once the whole
    /// candidate is there, a frame that decodes; nil to wait for more bytes.
    private static func plausibleRequest(_ payload: ByteBuffer, length: Int) -> Bool? {
        guard let (key, version, _, clientIDLength) = payload.getMultipleIntegers(
            at: payload.readerIndex, as: (Int16, Int16, Int32, Int16).self)
        else { return payload.readableBytes >= 10 ? false : nil }
        guard let api = APIDescriptor.lookup(APIKey(rawValue: key)), api.validVersions.contains(version),
            clientIDLength >= -1, Int(clientIDLength) <= length - 10
        else { return false }
        // Client ids are printable text: the cheapest way to tell a header from bytes inside a record batch.
        if clientIDLength > 0 {
            guard let id = payload.getBytes(at: payload.readerIndex + 10, length: min(Int(clientIDLength), payload.readableBytes - 10)),
                id.allSatisfy({ (0x20...0x7E).contains($0) })
            else { return false }
        }
        return Self.verdict({ () throws(KafkaDecodingError) in try KafkaCodec.decodeRequest(payload) }, complete: payload.readableBytes == length)
    }

    /// Whether a candidate frame decodes: yes, no, or (for one still incomplete whose bytes so far decode up
    /// to where they end) not yet known.
    private static func verdict<Message>(
        _ decode: () throws(KafkaDecodingError) -> DecodedFrame<Message>, complete: Bool
    ) -> Bool? {
        do {
            if case .message = try decode() { return true }
            return false
        } catch {
            return !complete && error.code == .truncated ? nil : false
        }
    }

    /// A response frame start while resynchronizing: a correlation id that a request waits for and, once the
    /// whole candidate is there, a frame that decodes at that request's key and version.
    private static func plausibleResponse(_ payload: ByteBuffer, length: Int, pending: PendingRequests) -> Bool? {
        guard let correlationID = payload.getInteger(at: payload.readerIndex, as: Int32.self) else { return nil }
        guard let request = pending.find(correlationID) else { return false }
        return Self.verdict({ () throws(KafkaDecodingError) in
            try KafkaCodec.decodeResponse(payload, apiKey: request.header.apiKey, apiVersion: request.header.apiVersion)
        }, complete: payload.readableBytes == length)
    }

    // MARK: Frames

    private func requestFrame(_ frame: KafkaFramer.Frame, timestamp: Int64, on connection: TrackedConnection) {
        self.packetCounters.frames += 1
        guard let header = KafkaCodec.peekRequestHeader(frame.payload) else {
            self.packetCounters.undecodable += 1
            return
        }
        let expectsResponse = KafkaCodec.expectsResponse(frame.payload, header: header)
        if let skeleton = frame.followed?.skeleton {
            self.followedFrames += 1
            connection.recorder?.requestRead(
                skeleton, head: frame.payload, header: header, frameBytes: frame.size, expectsResponse: expectsResponse, at: timestamp)
        } else {
            connection.recorder?.requestRead(
                frame.payload, header: header, frameBytes: frame.size, expectsResponse: expectsResponse, at: timestamp)
        }
        // Without metrics no recorder notes the client; the report's directory does, through the same sightings.
        connection.sightings?.request(frame.payload, header: header, at: timestamp)
        var slot: Int32 = 0
        let unanswered: UnansweredReason? = if !expectsResponse {
            .noResponseExpected
        } else if connection.pending.count >= self.options.maximumPendingPerConnection {
            .tooManyPending
        } else {
            nil
        }
        if unanswered == nil {
            slot = connection.pending.add(header, timestamp: timestamp, packet: frame.packet, claimSlot: connection.claimSlot)
        } else {
            self.packetCounters.unanswered += 1
        }
        self.feed.request(header, slot: slot, unanswered: unanswered, timestamp: timestamp, frame: frame, on: connection.exchanges!)
    }

    private func responseFrame(_ frame: KafkaFramer.Frame, timestamp: Int64, on connection: TrackedConnection) {
        self.packetCounters.frames += 1
        guard let correlationID = frame.payload.getInteger(at: frame.payload.readerIndex, as: Int32.self),
            let request = connection.pending.remove(correlationID)
        else {
            self.packetCounters.requestMissing += 1
            return
        }
        // Merged captures put some responses before their requests: latency zero, and the skew counted.
        if timestamp < request.timestamp { self.packetCounters.clockSkew += 1 }
        let latency = Duration.microseconds(CaptureTime.elapsed(from: request.timestamp, to: timestamp))
        if let skeleton = frame.followed?.skeleton {
            self.followedFrames += 1
            connection.recorder?.responseRead(
                skeleton, apiKey: request.header.apiKey, frameBytes: frame.size, brokerDuration: latency, at: timestamp)
        } else {
            connection.recorder?.responseRead(
                frame.payload, apiKey: request.header.apiKey, apiVersion: request.header.apiVersion, frameBytes: frame.size,
                brokerDuration: latency, at: timestamp)
        }
        connection.recorder?.responseDelivered(apiKey: request.header.apiKey, after: latency)
        // Each answer on its own, so that lag here is what the summary and lag formats compute exchange by exchange.
        connection.recorder?.applyProducedLogs()
        connection.release(request.slot)
        self.feed.response(to: request.header, slot: request.slot, timestamp: timestamp, frame: frame, on: connection.exchanges!)
    }
}

@available(*, unavailable)
extension CaptureAnalyzer: Sendable {}
