import KafkaCodec
import KafkaProxyMetrics

/// What the packet side of the analysis tells the exchange side, in capture order: frames as they are cut, and
/// requests it stopped waiting for.
///
/// Trivial to copy and to drop (no reference counted fields), because events are made, batched and handled once
/// per frame: what is read of a frame on the packet side waits in the batch (`FrameBatch`), found by index.
struct FrameEvent {
    enum Kind {
        /// A request frame: kept pending until its response when `unanswered` is nil, or else never answered.
        case request(unanswered: UnansweredReason?)
        /// The response to the awaited request at `slot`, whose header is `header`.
        case response
        /// The request at `slot` will not be answered, for `reason`.
        case abandoned(UnansweredReason)
    }

    var kind: Kind
    /// Unmanaged, so that making an event on one thread and handling it on the other does not bounce the
    /// connection's reference count between cores for every frame. The analyzer holds the connection while it is
    /// open, and a batch holds those that closed while their events were in it (`FrameBatch.closed`).
    var connection: Unmanaged<ConnectionExchanges>
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

/// Where an event's frame is, or what was read of it.
enum FrameContent {
    /// Decoding is off: nothing to read.
    case skipped
    /// The event is handled at once, and its frame comes with it.
    case passed
    /// A copy in the batch's arena, so that the framer's buffer is not held by a batch in flight.
    case copied(ArenaRange)
    /// Read on the packet side (see `ExchangeFeed`) into the batch's `requests`, with the client id's bytes
    /// copied into the arena.
    case readRequest(index: Int32, clientID: ArenaRange?)
    /// Read on the packet side into the batch's `responses`.
    case readResponse(index: Int32)
}

/// Bytes in a batch's arena.
struct ArenaRange {
    var offset: Int32
    var length: Int32
}
