/// Why a side's reads paused for back-pressure: the proxy reads no more from one side than the other can take.
public enum ReadPause: String, CaseIterable, Sendable {
    /// The client's reads: the broker connection takes no more for now.
    case brokerNotWritable = "broker_not_writable"
    /// The client's reads: it has as many requests in flight as `--max-in-flight` allows.
    case inFlightCap = "in_flight_cap"
    /// The broker's reads: the client takes no more responses for now (a stalled or slow consumer).
    case clientNotWritable = "client_not_writable"

    /// The side whose reads pause.
    public var side: ConnectionSide { self == .clientNotWritable ? .broker : .client }
}
