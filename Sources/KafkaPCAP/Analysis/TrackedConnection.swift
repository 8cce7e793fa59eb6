import KafkaCodec
import KafkaProxyMetrics
import NIOCore

/// Everything the analysis keeps about one TCP connection.
final class TrackedConnection {
    enum Role {
        /// No payload has said yet whether this is Kafka.
        case undetermined(payloadsSeen: Int)
        case kafka(client: Endpoint, server: Endpoint)
        case other
    }

    let key: FlowKey
    var role: Role = .undetermined(payloadsSeen: 0)
    var streams = PerDirection(TCPStream())
    var synchronized = PerDirection(false)
    /// Who sent the SYN without ACK: the client.
    var synSender: Endpoint?
    var finished = PerDirection(false)
    var requests: KafkaFramer?
    var responses: KafkaFramer?
    /// Requests waiting for their response, as far as reassembly needs to know them.
    var pending = PendingRequests()
    /// The exchange side's state, once the connection is known to be Kafka (`startExchanges`). Passed along
    /// with every frame as an unmanaged reference: the exchange side changes its fields on the other core, and a
    /// reference count change here would take their cache line away from it each time. (An `unowned(unsafe)`
    /// property did not prevent that: reading one into an argument retains it.)
    private(set) var exchanges: Unmanaged<ConnectionExchanges>?
    private var exchangesOwner: ConnectionExchanges?
    /// Slots of the exchange side's awaiting list that no pending request holds; slot numbers are reused, so the
    /// list stays as long as the most requests ever pending at once.
    private var freeSlots: [Int32] = []
    private var slotCount: Int32 = 0

    func claimSlot() -> Int32 {
        if let slot = self.freeSlots.popLast() { return slot }
        self.slotCount += 1
        return self.slotCount - 1
    }

    func release(_ slot: Int32) {
        self.freeSlots.append(slot)
    }
    var recorder: ExchangeRecorder?
    /// Notes the client's requests in the report's directory when there is no recorder to.
    var sightings: ClientSightings?
    var lastSeen: Int64

    init(key: FlowKey, timestamp: Int64) {
        self.key = key
        self.lastSeen = timestamp
    }

    func startExchanges(client: Endpoint, server: Endpoint) {
        let exchanges = ConnectionExchanges(client: client, server: server)
        self.exchangesOwner = exchanges
        self.exchanges = Unmanaged.passUnretained(exchanges)
    }

    func direction(from source: Endpoint) -> FlowDirection { source == self.key.first ? .forward : .backward }

    /// Whether data has flowed, so that a new SYN means the 4-tuple is being reused.
    var carriedData = false
}
