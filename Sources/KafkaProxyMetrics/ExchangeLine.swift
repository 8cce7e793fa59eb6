public import KafkaCodec

/// One request with its response, or with why none came, as one JSON line: what `kafkascope pcap --format jsonl`
/// prints for a capture and `kafkascope proxy --exchange-log` writes for live traffic. One writer, so that the
/// two read line for line alike.
public struct ExchangeLine {
    /// Microseconds since the epoch.
    public var requestTime: Int64
    /// Nil when unanswered.
    public var latencyMicroseconds: Int64?
    /// `ip:port`, IPv6 in brackets.
    public var client: String
    public var broker: String
    public var header: RequestHeaderPrefix
    public var clientID: String?
    /// Frames, size prefix included.
    public var requestBytes: Int
    public var responseBytes: Int?
    /// Capture positions: nil for live traffic, and for the response when unanswered.
    public var requestPacket: Int?
    public var responsePacket: Int?
    /// Why no response came, nil when one did.
    public var unanswered: UnansweredReason?

    public init(
        requestTime: Int64, latencyMicroseconds: Int64?, client: String, broker: String, header: RequestHeaderPrefix,
        clientID: String?, requestBytes: Int, responseBytes: Int?, requestPacket: Int?, responsePacket: Int?,
        unanswered: UnansweredReason?
    ) {
        (self.requestTime, self.latencyMicroseconds, self.client, self.broker, self.header) =
            (requestTime, latencyMicroseconds, client, broker, header)
        (self.clientID, self.requestBytes, self.responseBytes, self.requestPacket, self.responsePacket, self.unanswered) =
            (clientID, requestBytes, responseBytes, requestPacket, responsePacket, unanswered)
    }

    /// The line, without its newline. The facts name errors and topics; `decoded` adds the decoded bodies
    /// (`--decode full`), rendered as `kafkascope decode` renders them, SASL secrets redacted.
    public func json(
        requestFacts: MessageFacts?, responseFacts: MessageFacts?, decoded: (request: KafkaRequest?, response: KafkaResponse?)?,
        topicName: (TopicReference) -> String?
    ) -> String {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("ts")
        writer.string(Timestamp.iso8601(microseconds: self.requestTime))
        writer.key("latency_ms")
        if let latency = self.latencyMicroseconds { writer.double(Double(latency) / 1000) } else { writer.raw("null") }
        writer.key("client")
        writer.string(self.client)
        writer.key("broker")
        writer.string(self.broker)
        writer.key("api")
        writer.string(self.header.apiKey.name)
        writer.key("api_key")
        writer.number(self.header.apiKey.rawValue)
        writer.key("api_version")
        writer.number(self.header.apiVersion)
        if self.header.isRemovedInKafka4 {
            writer.key("removed_in")
            writer.string("4.0")
        }
        writer.key("correlation_id")
        writer.number(self.header.correlationID)
        writer.key("client_id")
        if let clientID = self.clientID { writer.string(clientID) } else { writer.raw("null") }
        writer.key("request_bytes")
        writer.number(self.requestBytes)
        writer.key("response_bytes")
        Self.number(self.responseBytes, into: &writer)
        writer.key("request_packet")
        Self.number(self.requestPacket, into: &writer)
        writer.key("response_packet")
        Self.number(self.responsePacket, into: &writer)
        if let reason = self.unanswered {
            writer.key("unanswered")
            writer.string(reason.rawValue)
        }
        writer.key("errors")
        writer.beginArray()
        for error in responseFacts?.errors ?? [] {
            writer.beginObject()
            writer.key("error")
            writer.string(error.name)
            writer.key("code")
            writer.number(error.code)
            writer.key("topic")
            if let topic = error.topic.map({ topicName($0) ?? $0.id?.base64 ?? "" }) { writer.string(topic) } else { writer.raw("null") }
            writer.key("partition")
            if let partition = error.partition { writer.number(partition) } else { writer.raw("null") }
            writer.endObject()
        }
        writer.endArray()
        writer.key("topics")
        writer.beginArray()
        var named = Set<String>()
        for topic in (requestFacts?.topics ?? []) + (responseFacts?.topics ?? []) {
            let name = topicName(topic) ?? topic.id?.base64 ?? ""
            if named.insert(name).inserted { writer.string(name) }
        }
        writer.endArray()
        if let decoded {
            writer.key("request")
            if let request = decoded.request { writer.raw(JSONRenderer.render(request)) } else { writer.raw("null") }
            writer.key("response")
            if let response = decoded.response { writer.raw(JSONRenderer.render(response)) } else { writer.raw("null") }
        }
        writer.endObject()
        return writer.output
    }

    private static func number(_ value: Int?, into writer: inout JSONWriter) {
        if let value { writer.number(value) } else { writer.raw("null") }
    }
}
