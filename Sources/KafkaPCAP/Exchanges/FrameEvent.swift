import KafkaCodec
import NIOCore

/// What the packet side of the analysis tells the exchange side, in capture order: frames as they are cut, and
/// requests it stopped waiting for.
///
/// Plain values and few references, so that batching events costs little: events are made and handled once per
/// frame.
struct FrameEvent {
    enum Kind {
        /// A request frame; `awaited` when the packet side keeps it pending until its response.
        case request(awaited: Bool)
        /// The response to the awaited request at `slot`, whose header is `header`.
        case response
        /// Bytes were lost where the response to the request at `slot` would have been.
        case abandoned
    }

    var kind: Kind
    /// Unowned, so that making an event on one thread and dropping it on the other does not bounce the
    /// connection's reference count between cores for every frame. The analyzer holds the connection while it is
    /// open, and a batch holds those that closed while their events were in it (`FrameBatch.closed`).
    unowned(unsafe) var connection: ConnectionExchanges
    /// The request's header: the frame's own for a request, the one it answers for a response.
    var header: RequestHeaderPrefix
    /// Where the connection keeps the awaited request until its response (`TrackedConnection.claimSlot`).
    var slot: Int32
    /// Microseconds since the epoch, of the packet that completed the frame.
    var timestamp: Int64 = 0
    var packet: Int = 0
    var size: Int = 0
    var content: FrameContent = .skipped
}

/// A frame's bytes on their way to be read, or what was read of them already.
enum FrameContent {
    /// Decoding is off: nothing to read.
    case skipped
    /// The frame itself, read where the event is handled.
    case frame(ByteBuffer)
    /// A copy in the batch's arena, so that the framer's buffer is not held by a batch in flight.
    case copied(offset: Int, length: Int)
    /// A request's facts, read on the packet side (see `ExchangeFeed`), with its client id copied into the arena.
    case inspectedRequest(MessageFacts?, clientID: Range<Int>?)
    /// Read on the packet side (see `ExchangeFeed`), behind one reference so that events stay small to copy.
    case readRequest(Box<RequestReading>)
    case readResponse(Box<ResponseReading>)

    /// What the request frame says, read now unless that happened already; nil when decoding is off.
    func request(arena: ByteBuffer, reader: FrameReader) -> RequestReading? {
        switch self {
        case .readRequest(let box):
            return box.value
        case .inspectedRequest(let facts, let clientID):
            return RequestReading(clientID: clientID.map { arena.getSlice(at: $0.lowerBound, length: $0.count)! }, facts: facts)
        case .skipped, .frame, .copied, .readResponse:
            return self.frame(arena: arena).map(reader.request)
        }
    }

    /// What the response frame says, read now unless that happened already; nil when decoding is off.
    func response(to header: RequestHeaderPrefix, arena: ByteBuffer, reader: FrameReader) -> ResponseReading? {
        if case .readResponse(let box) = self { return box.value }
        return self.frame(arena: arena).map { reader.response($0, to: header) }
    }

    private func frame(arena: ByteBuffer) -> ByteBuffer? {
        switch self {
        case .skipped, .inspectedRequest, .readRequest, .readResponse: nil
        case .frame(let frame): frame
        case .copied(let offset, let length): arena.getSlice(at: offset, length: length)
        }
    }
}

/// An immutable value behind a reference.
final class Box<Value>: @unchecked Sendable {
    // @unchecked: never changed once made; the exchange side only reads it.
    let value: Value

    init(_ value: Value) {
        self.value = value
    }
}
