import KafkaCodec
import KafkaProxyMetrics
import NIOCore

/// The exchange side of capture analysis: reads request and response frames into facts, pairs each response with
/// its request and hands the exchange to the consumer.
///
/// Events come in capture order, either straight from the analyzer or from a worker thread that takes them in
/// batches (`BatchWorker`); the consumer is called on that same thread.
final class ExchangeAssembler {
    private let reader: FrameReader
    private let onExchange: (Exchange, TopicNames) -> Void
    /// Requests paired with their responses.
    private(set) var exchanges = 0
    /// Requests handed on without a response (`Exchange.unanswered`).
    private(set) var unansweredRequests = 0
    private(set) var undecodable = 0
    /// Values that cannot be true, in every request and response read.
    private(set) var invalidValues = 0
    private var topicNames = TopicNames()

    init(reader: FrameReader, onExchange: @escaping (Exchange, TopicNames) -> Void) {
        self.reader = reader
        self.onExchange = onExchange
    }

    /// Handles a batch's events in order.
    func handle(_ batch: inout FrameBatch) {
        for index in batch.events.indices {
            self.handle(batch.events[index], frame: nil, in: &batch)
        }
    }

    /// Handles one event, whose frame is `frame` if it came along (`FrameContent.passed`), or else in `batch`.
    ///
    /// Readings are taken apart in place, a field at a time (`take`), wherever they are: in the batch or just read.
    /// Moving or copying a whole reading would change the reference counts of all it holds, for every frame.
    func handle(_ event: FrameEvent, frame: ByteBuffer?, in batch: inout FrameBatch) {
        // Not retained: see `FrameEvent.connection`.
        event.connection._withUnsafeGuaranteedRef { self.handle(event, frame: frame, in: &batch, on: $0) }
    }

    private func handle(
        _ event: FrameEvent, frame: ByteBuffer?, in batch: inout FrameBatch, on connection: ConnectionExchanges
    ) {
        switch event.kind {
        case .request(let unanswered):
            let request = self.request(event, frame: frame, in: &batch, on: connection)
            if let unanswered {
                self.unanswered(request, reason: unanswered, on: connection)
            } else {
                connection.await(request, at: event.slot)
            }
        case .response:
            guard connection.awaits(event.slot) else { return }
            // Unwrapped in place rather than bound to a name first, which would copy the request.
            var exchange = Exchange(
                client: connection.client, broker: connection.server, request: connection.take(event.slot)!,
                responseTimestamp: event.timestamp, responsePacket: event.packet, responseSize: event.size)
            switch event.content {
            case .skipped, .readRequest: break
            case .passed:
                var reading = self.reader.response(frame!, to: event.header)
                self.complete(&exchange, with: &reading)
            case .copied(let range):
                var reading = self.reader.response(batch.arena.slice(range), to: event.header)
                self.complete(&exchange, with: &reading)
            case .readResponse(let index):
                self.complete(&exchange, with: &batch.responses[Int(index)])
            }
            self.exchanges += 1
            self.onExchange(exchange, self.topicNames)
        case .abandoned(let reason):
            guard connection.awaits(event.slot) else { return }
            self.unanswered(connection.take(event.slot)!, reason: reason, on: connection)
        }
    }

    /// Hands on a request that will have no response, so that reports list it too.
    private func unanswered(_ request: consuming ObservedRequest, reason: UnansweredReason, on connection: ConnectionExchanges) {
        self.unansweredRequests += 1
        self.onExchange(
            Exchange(client: connection.client, broker: connection.server, request: request, unanswered: reason), self.topicNames)
    }

    /// The request an event carries, with what was read of it: read now unless that happened already.
    private func request(
        _ event: FrameEvent, frame: ByteBuffer?, in batch: inout FrameBatch, on connection: ConnectionExchanges
    ) -> ObservedRequest {
        switch event.content {
        case .skipped, .readResponse:
            return ObservedRequest(header: event.header, timestamp: event.timestamp, packet: event.packet, size: event.size)
        case .passed:
            var reading = self.reader.request(frame!)
            return self.request(event, from: &reading, on: connection)
        case .copied(let range):
            var reading = self.reader.request(batch.arena.slice(range))
            return self.request(event, from: &reading, on: connection)
        case .readRequest(let index, let clientID):
            return self.request(
                event, from: &batch.requests[Int(index)], clientID: clientID.map { batch.arena.slice($0) }, on: connection)
        }
    }

    /// `clientID`: the client id's bytes, when they travelled in the arena rather than in the reading.
    private func request(
        _ event: FrameEvent, from reading: inout RequestReading, clientID: ByteBuffer? = nil, on connection: ConnectionExchanges
    ) -> ObservedRequest {
        if reading.facts.isNone { self.undecodable += 1 }
        self.invalidValues += reading.facts?.invalidValues.total ?? 0
        // Spelled out: `??` and `map` with a method of the connection would copy the bytes and the connection.
        let clientIDText: String? =
            if let text = reading.clientIDText.take() {
                text
            } else if let clientID {
                connection.clientID(from: clientID)
            } else if let bytes = reading.clientID.take() {
                connection.clientID(from: bytes)
            } else {
                nil
            }
        return ObservedRequest(
            header: event.header, timestamp: event.timestamp, packet: event.packet, size: event.size, clientID: clientIDText,
            decoded: reading.decoded.take(), facts: reading.facts.take())
    }

    private func complete(_ exchange: inout Exchange, with reading: inout ResponseReading) {
        exchange.responseFacts = reading.facts.take()
        exchange.response = reading.decoded.take()
        if exchange.responseFacts.isNone { self.undecodable += 1 }
        self.invalidValues += exchange.responseFacts?.invalidValues.total ?? 0
        if let names = exchange.responseFacts?.topicNames, !names.isEmpty {
            self.topicNames.learn(names)
        }
    }
}

@available(*, unavailable)
extension ExchangeAssembler: Sendable {}
