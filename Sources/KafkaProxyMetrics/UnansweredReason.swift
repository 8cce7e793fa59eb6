/// Why a request has no response: in a capture, or in the proxy's exchange log (`no_response_expected`,
/// `connection_closed`). The raw values are the `unanswered` field of their JSON lines.
public enum UnansweredReason: String, Sendable, CaseIterable {
    /// The capture ended while the request waited.
    case captureEnded = "capture_ended"
    /// The connection closed (in a capture: FIN both ways, or RST) while the request waited.
    case connectionClosed = "connection_closed"
    /// The flow carried nothing for the idle timeout and was let go while the request waited.
    case flowIdle = "flow_idle"
    /// Bytes are missing from the capture where the response would be.
    case responseLost = "response_lost"
    /// A Produce request with `acks=0`: the broker sends no response.
    case noResponseExpected = "no_response_expected"
    /// The connection already had the most pending requests the analysis follows (`maximumPendingPerConnection`).
    case tooManyPending = "too_many_pending"
}
