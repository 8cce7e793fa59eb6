import KafkaCodec
import NIOCore

/// The exchange side's state for one Kafka connection: requests read and waiting for their responses.
///
/// The packet side creates it and passes it along with the connection's events; only the exchange side reads or
/// changes it, on whichever thread handles the events.
final class ConnectionExchanges: @unchecked Sendable {
    let client: Endpoint
    let server: Endpoint
    /// Requests awaiting their response, at the slots the packet side gave them (`TrackedConnection.claimSlot`):
    /// an index rather than a second hash table keyed by correlation id.
    private var awaiting: [ObservedRequest?] = []
    /// The client id of the last request, so that a connection's requests share one string instead of each
    /// allocating its own. Kept as a copy: a slice would hold on to the whole frame's storage.
    private var lastClientID: (bytes: [UInt8], text: String)?

    init(client: Endpoint, server: Endpoint) {
        self.client = client
        self.server = server
    }

    func await(_ request: consuming ObservedRequest, at slot: Int32) {
        let slot = Int(slot)
        if slot == self.awaiting.count {
            self.awaiting.append(request)
        } else {
            self.awaiting[slot] = request
        }
    }

    func awaits(_ slot: Int32) -> Bool {
        Int(slot) < self.awaiting.count && !self.awaiting[Int(slot)].isNone
    }

    /// The request awaited at `slot`, which is free after.
    func take(_ slot: Int32) -> ObservedRequest? {
        let slot = Int(slot)
        guard slot < self.awaiting.count else { return nil }
        return self.awaiting[slot].take()
    }

    func clientID(from bytes: ByteBuffer) -> String {
        if let last = self.lastClientID, bytes.readableBytes(equal: last.bytes) { return last.text }
        let text = String(buffer: bytes)
        self.lastClientID = (Array(bytes.readableBytesView), text)
        return text
    }
}
