public import KafkaCodec
public import KafkaProxyMetrics

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

/// A request and its response, paired by correlation id on one connection; or a request that the capture shows
/// no response to, and why (`unanswered`), so that no report drops a request it saw.
public struct Exchange: Sendable {
    public var client: Endpoint
    public var broker: Endpoint
    public var request: ObservedRequest
    /// Why no response belongs to the request; nil when one does. The response fields are zero or nil then.
    public var unanswered: UnansweredReason?
    public var responseTimestamp: Int64 = 0
    public var responsePacket: Int = 0
    public var responseSize: Int = 0
    public var response: KafkaResponse?
    public var responseFacts: MessageFacts?

    /// Nil when unanswered; zero for a response timestamped before its request (counted as `clock_skew` when it
    /// was paired).
    public var latencyMicroseconds: Int64? {
        self.unanswered == nil ? CaptureTime.elapsed(from: self.request.timestamp, to: self.responseTimestamp) : nil
    }
}
