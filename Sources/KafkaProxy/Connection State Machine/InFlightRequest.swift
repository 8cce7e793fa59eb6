import KafkaCodec
import NIOCore

/// A request forwarded upstream and waiting for its response.
struct InFlightRequest: Hashable, Sendable {
    var apiKey: APIKey
    var apiVersion: Int16
    var correlationID: Int32
    /// When the whole request had been read from the client.
    var receivedAt: NIODeadline
    /// When the whole request had been written to the broker's socket.
    var sentAt: NIODeadline? = nil
}

extension InFlightRequest {
    /// How long the broker took, from the request's last byte going upstream until now, when its response is in.
    var brokerDuration: Duration? {
        self.sentAt.map { Duration(NIODeadline.now() - $0) }
    }
}
