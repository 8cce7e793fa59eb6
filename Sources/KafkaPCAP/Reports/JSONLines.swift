public import KafkaCodec
import KafkaProxyMetrics

/// One JSON object per exchange, for `--format jsonl`: the capture's side of `ExchangeLine`.
public enum JSONLines {
    /// The line for `exchange`; `decodeFull` adds the decoded bodies.
    public static func line(for exchange: Exchange, decodeFull: Bool, topicName: (TopicReference) -> String?) -> String {
        let answered = exchange.unanswered == nil
        return ExchangeLine(
            requestTime: exchange.request.timestamp, latencyMicroseconds: exchange.latencyMicroseconds,
            client: exchange.client.description, broker: exchange.broker.description, header: exchange.request.header,
            clientID: exchange.request.clientID, requestBytes: exchange.request.size,
            responseBytes: answered ? exchange.responseSize : nil, requestPacket: exchange.request.packet,
            responsePacket: answered ? exchange.responsePacket : nil, unanswered: exchange.unanswered
        ).json(
            requestFacts: exchange.request.facts, responseFacts: exchange.responseFacts,
            decoded: decodeFull ? (exchange.request.decoded, exchange.response) : nil, topicName: topicName)
    }
}
