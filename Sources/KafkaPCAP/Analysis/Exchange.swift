public import KafkaCodec

/// A request seen in a capture, waiting for its response.
public struct ObservedRequest: Sendable {
    public var header: RequestHeaderPrefix
    /// Microseconds since the epoch, of the packet that completed the frame.
    public var timestamp: Int64
    public var packet: Int
    public var size: Int
    public var clientID: String?
    /// The decoded request, when it decoded.
    public var decoded: KafkaRequest?
    public var facts: MessageFacts?
}

/// A request and its response, paired by correlation id on one connection.
public struct Exchange: Sendable {
    public var client: Endpoint
    public var broker: Endpoint
    public var request: ObservedRequest
    public var responseTimestamp: Int64
    public var responsePacket: Int
    public var responseSize: Int
    public var response: KafkaResponse?
    public var responseFacts: MessageFacts?

    /// Zero for a response timestamped before its request (counted as `clock_skew` when it was paired).
    public var latencyMicroseconds: Int64 { CaptureTime.elapsed(from: self.request.timestamp, to: self.responseTimestamp) }
}
