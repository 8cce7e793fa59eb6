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
    /// Index 0: `key.first` to `key.second`; index 1 the other way.
    var streams = [TCPStream(), TCPStream()]
    var synchronized = [false, false]
    /// Who sent the SYN without ACK: the client.
    var synSender: Endpoint?
    var finished = [false, false]
    var requests: KafkaFramer?
    var responses: KafkaFramer?
    var pending: [Int32: ObservedRequest] = [:]
    var recorder: ExchangeRecorder?
    var lastSeen: Int64

    init(key: FlowKey, timestamp: Int64) {
        self.key = key
        self.lastSeen = timestamp
    }

    func direction(from source: Endpoint) -> Int { source == self.key.first ? 0 : 1 }

    /// The client id of the last request, so that a connection's requests share one string instead of each
    /// allocating its own. Kept as a copy: a slice would hold on to the whole frame's storage.
    private var lastClientID: (bytes: [UInt8], text: String)?

    func clientID(from bytes: ByteBuffer) -> String {
        if let last = self.lastClientID, bytes.readableBytesView.elementsEqual(last.bytes) { return last.text }
        let text = String(buffer: bytes)
        self.lastClientID = (Array(bytes.readableBytesView), text)
        return text
    }

    /// Whether data has flowed, so that a new SYN means the 4-tuple is being reused.
    var carriedData = false
}
