import KafkaCodec
import NIOCore

/// The exchange side of capture analysis: reads request and response frames into facts, pairs each response with
/// its request and hands the exchange to the consumer.
///
/// Events come in capture order, either straight from the analyzer or from a worker thread that takes them in
/// batches (`BatchWorker`); the consumer is called on that same thread.
final class ExchangeAssembler {
    private let reader: FrameReader
    private let onExchange: (Exchange) -> Void
    private(set) var exchanges = 0
    private(set) var undecodable = 0
    /// Topic names by id, from the Metadata (and other) responses seen so far.
    private(set) var topicNames: [KafkaUUID: String] = [:]

    init(reader: FrameReader, onExchange: @escaping (Exchange) -> Void) {
        self.reader = reader
        self.onExchange = onExchange
    }

    /// Handles a batch's events in order.
    func handle(_ batch: FrameBatch) {
        // Borrowed from the buffer rather than copied out by an iterator: an event copy costs retains.
        batch.events.withUnsafeBufferPointer { events in
            for index in events.indices { self.handle(events[index], arena: batch.arena) }
        }
    }

    func handle(_ event: FrameEvent, arena: ByteBuffer) {
        let connection = event.connection
        switch event.kind {
        case .request(let awaited):
            var request = ObservedRequest(header: event.header, timestamp: event.timestamp, packet: event.packet, size: event.size)
            // Fields are moved out of the reading (`take`), not copied: a copy and its release cost retains.
            if var reading = event.content.request(arena: arena, reader: self.reader) {
                request.clientID = reading.clientIDText.take() ?? reading.clientID.map(connection.clientID(from:))
                request.facts = reading.facts.take()
                request.decoded = reading.decoded.take()
                if request.facts == nil { self.undecodable += 1 }
            }
            if awaited { connection.await(request, at: event.slot) }
        case .response:
            guard let request = connection.take(event.slot) else { return }
            var exchange = Exchange(
                client: connection.client, broker: connection.server, request: request, responseTimestamp: event.timestamp,
                responsePacket: event.packet, responseSize: event.size)
            if var reading = event.content.response(to: event.header, arena: arena, reader: self.reader) {
                exchange.responseFacts = reading.facts.take()
                exchange.response = reading.decoded.take()
                if let names = exchange.responseFacts?.topicNames, !names.isEmpty {
                    self.topicNames.merge(names) { _, new in new }
                }
                if exchange.responseFacts == nil { self.undecodable += 1 }
            }
            self.exchanges += 1
            self.onExchange(exchange)
        case .abandoned:
            _ = connection.take(event.slot)
        }
    }

    /// A topic's name, from the message or from a Metadata response seen earlier in the capture.
    func name(of topic: TopicReference) -> String? {
        topic.name ?? topic.id.flatMap { self.topicNames[$0] }
    }
}

@available(*, unavailable)
extension ExchangeAssembler: Sendable {}
