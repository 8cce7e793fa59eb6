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
