/// What an analysis counted besides the exchanges themselves: the capture's health.
public struct CaptureCounters: Sendable {
    public var packets = 0
    /// Packets the snaplen cut short inside TCP payload.
    public var truncatedPackets = 0
    public var flows = 0
    public var kafkaFlows = 0
    public var frames = 0
    public var exchanges = 0
    /// Stretches of a stream that were never captured.
    public var gaps = 0
    public var gapBytes = 0
    /// Responses whose request was not in the capture.
    public var requestMissing = 0
    /// Requests that got no response in the capture (Produce with acks=0 included).
    public var unanswered = 0
    public var undecodable = 0
    /// Times the reorder window filled while bytes were missing.
    public var outOfWindow = 0
    /// Times decoding found its way back to a frame boundary after a gap or a mid-stream start.
    public var resyncs = 0
    /// Flows dropped for being idle too long, or to keep the flow table bounded.
    public var evictedFlows = 0
    /// Responses timestamped before their requests (merged captures, `-i any`): their latency counts as zero.
    public var clockSkew = 0
    /// Packets whose time lies outside years 1 to 9999; each keeps the time of the packet before it.
    public var timestampsOutOfRange = 0
    /// Values in frames that cannot be true (`InvalidValue`), left out of the report's counts.
    public var invalidValues = 0

    public init() {}

    /// Name and value of each counter, in report order.
    public var all: [(String, Int)] {
        [
            ("packets", self.packets), ("truncated_packets", self.truncatedPackets), ("flows", self.flows),
            ("kafka_flows", self.kafkaFlows), ("frames", self.frames), ("exchanges", self.exchanges),
            ("gaps", self.gaps), ("gap_bytes", self.gapBytes), ("request_missing", self.requestMissing),
            ("unanswered", self.unanswered), ("undecodable", self.undecodable), ("out_of_window", self.outOfWindow),
            ("resyncs", self.resyncs), ("evicted_flows", self.evictedFlows), ("clock_skew", self.clockSkew),
            ("bad_timestamps", self.timestampsOutOfRange), ("invalid_values", self.invalidValues),
        ]
    }
}
