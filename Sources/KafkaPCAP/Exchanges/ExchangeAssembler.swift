import KafkaCodec
import NIOCore

/// The exchange side of capture analysis: reads request and response frames into facts, pairs each response with
/// its request and hands the exchange to the consumer.
///
/// Events come in capture order, either straight from the analyzer or from a worker thread that takes them in
/// batches (`BatchWorker`); the consumer is called on that same thread.
final class ExchangeAssembler {
    private let reader: FrameReader
    private let onExchange: (Exchange, TopicNames) -> Void
    private(set) var exchanges = 0
    private(set) var undecodable = 0
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
    func handle(_ event: FrameEvent, frame: ByteBuffer?, in batch: inout FrameBatch) {
        let connection = event.connection
        switch event.kind {
        case .request(let awaited):
            var request = ObservedRequest(header: event.header, timestamp: event.timestamp, packet: event.packet, size: event.size)
            // Fields are moved out of the reading (`take`), not copied: a copy and its release cost retains.
            if var reading = self.request(event.content, frame: frame, in: &batch) {
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
            if var reading = self.response(event.content, to: event.header, frame: frame, in: &batch) {
                exchange.responseFacts = reading.facts.take()
                exchange.response = reading.decoded.take()
                if let names = exchange.responseFacts?.topicNames, !names.isEmpty {
                    self.topicNames.learn(names)
                }
                if exchange.responseFacts == nil { self.undecodable += 1 }
            }
            self.exchanges += 1
            self.onExchange(exchange, self.topicNames)
        case .abandoned:
            _ = connection.take(event.slot)
        }
    }

    /// What the request frame says, read now unless that happened already; nil when decoding is off.
    private func request(_ content: FrameContent, frame: ByteBuffer?, in batch: inout FrameBatch) -> RequestReading? {
        switch content {
        case .skipped, .readResponse: return nil
        case .passed: return self.reader.request(frame!)
        case .copied(let range): return self.reader.request(batch.bytes(range))
        case .readRequest(let index, let clientID):
            var reading = batch.takeRequest(index)
            reading.clientID = clientID.map(batch.bytes)
            return reading
        }
    }

    /// What the response frame says, read now unless that happened already; nil when decoding is off.
    private func response(
        _ content: FrameContent, to header: RequestHeaderPrefix, frame: ByteBuffer?, in batch: inout FrameBatch
    ) -> ResponseReading? {
        switch content {
        case .skipped, .readRequest: return nil
        case .passed: return self.reader.response(frame!, to: header)
        case .copied(let range): return self.reader.response(batch.bytes(range), to: header)
        case .readResponse(let index): return batch.takeResponse(index)
        }
    }
}

@available(*, unavailable)
extension ExchangeAssembler: Sendable {}
