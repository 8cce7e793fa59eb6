import KafkaCodec
import KafkaProxyMetrics
import NIOCore

/// Carries frame events from the analyzer to the assembler: handled at once, or in batches by a
/// `BatchWorker`, so that reading frames into facts and the reports run on a second core while packets are
/// reassembled and cut into frames.
final class ExchangeFeed {
    let assembler: ExchangeAssembler
    private let worker: BatchWorker<FrameBatch>?
    private let reader: FrameReader
    private let decode: Bool
    private var batch = FrameBatch()
    private let batchEvents: Int
    /// What this thread reads of the batch it fills, rather than the worker. It takes on more while the worker
    /// falls behind and gives it back while it keeps up, which balances the reading between the two threads batch
    /// by batch: it depends on the traffic which thread has more to do.
    private var readsHere: SharedReading
    private let readingPolicy: SharedReading?
    private let largestCopiedFrame: Int

    /// Events per batch, and arena bytes after which a batch is handed over early.
    static let batchEvents = 1024
    static let batchArenaBytes = 512 << 10
    /// Frames larger than this are read on the analyzer's thread: copying them would cost more than reading them,
    /// and holding them in a batch would make the framer reallocate its buffer.
    static let largestCopiedFrame = 64 << 10

    init(options: CaptureAnalyzer.Options, onExchange: @escaping (Exchange, TopicNames) -> Void) {
        self.reader = FrameReader(keepDecoded: options.keepDecoded, listTopics: options.listTopics)
        self.assembler = ExchangeAssembler(reader: self.reader, onExchange: onExchange)
        self.decode = options.decode
        self.batchEvents = max(1, options.batchEvents)
        self.largestCopiedFrame = options.largestCopiedFrame
        self.readingPolicy = options.firstThreadReads
        self.readsHere = options.secondThread ? options.firstThreadReads ?? .nothing : .nothing
        self.worker = options.secondThread ? BatchWorker { [assembler] batch in assembler.handle(&batch) } : nil
        if self.worker != nil { self.startBatch() }
    }

    deinit {
        self.finish()
    }

    /// A request frame, awaited at `slot` unless it is `unanswered` for a reason known at once.
    func request(
        _ header: RequestHeaderPrefix, slot: Int32, unanswered: UnansweredReason?, timestamp: Int64, frame: KafkaFramer.Frame,
        on connection: Unmanaged<ConnectionExchanges>
    ) {
        var content = FrameContent.skipped
        if self.decode, let skeleton = frame.followed?.skeleton {
            // Followed in parts: only its structure is at hand, and it is read here.
            content = .readRequest(index: self.batch.add(self.reader.request(skeleton)), clientID: nil)
        } else if self.decode {
            let readHere = self.readsHere >= .requests && self.reader.inspects(header.apiKey)
            content = self.content(frame.payload, readHere: readHere) {
                var reading = self.reader.request(frame.payload)
                // The client id travels as bytes in the arena: a slice would keep the frame, and the framer's
                // buffer, alive in the batch, and share its storage between the threads.
                let clientID = reading.clientID.take().map { self.batch.copy($0) }
                return .readRequest(index: self.batch.add(consume reading), clientID: clientID)
            }
        }
        self.send(FrameEvent(
            kind: .request(unanswered: unanswered), connection: connection, header: header, slot: slot, timestamp: timestamp,
            packet: frame.packet, size: frame.size, content: content), frame: frame.payload)
    }

    func response(
        to request: RequestHeaderPrefix, slot: Int32, timestamp: Int64, frame: KafkaFramer.Frame,
        on connection: Unmanaged<ConnectionExchanges>
    ) {
        var content = FrameContent.skipped
        if self.decode, let skeleton = frame.followed?.skeleton {
            content = .readResponse(index: self.batch.add(self.reader.response(skeleton)))
        } else if self.decode {
            content = self.content(frame.payload, readHere: self.readsHere == .requestsAndResponses && !self.reader.keepDecoded) {
                .readResponse(index: self.batch.add(self.reader.response(frame.payload, to: request)))
            }
        }
        self.send(FrameEvent(
            kind: .response, connection: connection, header: request, slot: slot, timestamp: timestamp, packet: frame.packet,
            size: frame.size, content: content), frame: frame.payload)
    }

    func abandoned(
        _ request: RequestHeaderPrefix, slot: Int32, reason: UnansweredReason, on connection: Unmanaged<ConnectionExchanges>
    ) {
        self.send(FrameEvent(kind: .abandoned(reason), connection: connection, header: request, slot: slot))
    }

    /// The connection has no more events: a batch in flight keeps it alive until its events are handled.
    func closed(_ connection: Unmanaged<ConnectionExchanges>) {
        if self.worker != nil { self.batch.closed.append(connection.takeUnretainedValue()) }
    }

    /// Hands over what is batched and waits for the worker to handle it; the assembler's results are final after.
    func finish() {
        guard let worker = self.worker else { return }
        let last = self.takeBatch()
        if !last.isEmpty { _ = worker.hand(last) }
        worker.finish()
    }

    /// How a frame travels: along with its event when events are handled at once; else read here when asked or
    /// when it is large, copied into the batch otherwise.
    private func content(_ frame: ByteBuffer, readHere: Bool, read: () -> FrameContent) -> FrameContent {
        guard self.worker != nil else { return .passed }
        guard readHere || frame.readableBytes > self.largestCopiedFrame else { return .copied(self.batch.copy(frame)) }
        return read()
    }

    private func send(_ event: FrameEvent, frame: ByteBuffer? = nil) {
        // The worker is bound to a name only to hand a batch over: binding retains it, and its reference count
        // shares a cache line with the state the worker thread changes.
        guard self.worker != nil else {
            self.assembler.handle(event, frame: frame, in: &self.batch)
            // Frames followed in parts leave their reading in the batch, even when events are handled at once.
            if !self.batch.requests.isEmpty || !self.batch.responses.isEmpty { self.batch.removeAll() }
            return
        }
        self.batch.events.append(event)
        if self.batch.events.count == self.batchEvents || self.batch.arena.readableBytes >= Self.batchArenaBytes,
            let worker = self.worker
        {
            let (spare, workerWasBehind) = worker.hand(self.takeBatch())
            self.readsHere = self.readingPolicy ?? (workerWasBehind ? self.readsHere.more : self.readsHere.less)
            self.startBatch(reusing: spare)
        }
    }

    /// The batch being filled, which this feed then no longer holds: the worker must hold the only reference, or
    /// taking readings out of it would copy its arrays.
    private func takeBatch() -> FrameBatch {
        var batch = FrameBatch()
        swap(&batch, &self.batch)
        return batch
    }

    private func startBatch(reusing spare: FrameBatch? = nil) {
        if let spare {
            self.batch = spare
            return
        }
        self.batch = FrameBatch()
        self.batch.events.reserveCapacity(self.batchEvents)
        self.batch.arena.reserveCapacity(Self.batchArenaBytes + self.largestCopiedFrame)
    }
}

@available(*, unavailable)
extension ExchangeFeed: Sendable {}

/// What the thread that cuts frames also reads when a worker reads the rest.
enum SharedReading: Int, Comparable {
    case nothing, requests, requestsAndResponses

    var more: Self { Self(rawValue: self.rawValue + 1) ?? self }
    var less: Self { Self(rawValue: self.rawValue - 1) ?? self }

    static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
