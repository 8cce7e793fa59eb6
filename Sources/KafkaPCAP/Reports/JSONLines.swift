public import KafkaCodec

/// One JSON object per exchange, for `--format jsonl`.
public enum JSONLines {
    /// The line for `exchange`; `decodeFull` adds the decoded bodies, rendered as `kafkascope decode` renders
    /// them (SASL secrets redacted).
    public static func line(for exchange: Exchange, decodeFull: Bool, topicName: (TopicReference) -> String?) -> String {
        let request = exchange.request
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("ts")
        writer.string(Timestamp.iso8601(microseconds: request.timestamp))
        writer.key("latency_ms")
        if let latency = exchange.latencyMicroseconds { writer.double(Double(latency) / 1000) } else { writer.raw("null") }
        writer.key("client")
        writer.string(exchange.client.description)
        writer.key("broker")
        writer.string(exchange.broker.description)
        writer.key("api")
        writer.string(request.header.apiKey.name)
        writer.key("api_key")
        writer.number(request.header.apiKey.rawValue)
        writer.key("api_version")
        writer.number(request.header.apiVersion)
        if request.header.isRemovedInKafka4 {
            writer.key("removed_in")
            writer.string("4.0")
        }
        writer.key("correlation_id")
        writer.number(request.header.correlationID)
        writer.key("client_id")
        if let clientID = request.clientID { writer.string(clientID) } else { writer.raw("null") }
        writer.key("request_bytes")
        writer.number(request.size)
        writer.key("response_bytes")
        if exchange.unanswered == nil { writer.number(exchange.responseSize) } else { writer.raw("null") }
        writer.key("request_packet")
        writer.number(request.packet)
        writer.key("response_packet")
        if exchange.unanswered == nil { writer.number(exchange.responsePacket) } else { writer.raw("null") }
        if let reason = exchange.unanswered {
            writer.key("unanswered")
            writer.string(reason.rawValue)
        }
        writer.key("errors")
        writer.beginArray()
        for error in exchange.responseFacts?.errors ?? [] {
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
        for topic in (request.facts?.topics ?? []) + (exchange.responseFacts?.topics ?? []) {
            let name = topicName(topic) ?? topic.id?.base64 ?? ""
            if named.insert(name).inserted { writer.string(name) }
        }
        writer.endArray()
        if decodeFull {
            writer.key("request")
            if let decoded = request.decoded { writer.raw(JSONRenderer.render(decoded)) } else { writer.raw("null") }
            writer.key("response")
            if let decoded = exchange.response { writer.raw(JSONRenderer.render(decoded)) } else { writer.raw("null") }
        }
        writer.endObject()
        return writer.output
    }
}
