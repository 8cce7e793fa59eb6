import Foundation
import KafkaCodec
public import KafkaProxyMetrics

/// The tables `--format summary` prints: per API, per client and per topic, then the capture's health.
public struct SummaryReport {
    private struct APIRow {
        /// Of answered requests.
        var latency = LatencyHistogram()
        /// Requests without a response (`Exchange.unanswered`), `acks=0` Produce requests included.
        var unanswered = 0
        var requestBytes = 0
        var responseBytes = 0
        var errors: [String: Int] = [:]

        var requests: Int { self.latency.count + self.unanswered }
    }

    private struct TopicRow {
        var producedRecords = 0
        var producedBytes = 0
        var fetchedRecords = 0
        var fetchedBytes = 0
    }

    private var apis: [Int16: APIRow] = [:]
    private var topicRows: [TopicRow] = []
    private var topicIndex: [String: Int] = [:]
    /// The last topic counted, compared before `topicIndex` is hashed: exchanges run in streams about one topic.
    private var lastTopic: (name: String, index: Int)?

    public init() {}

    public mutating func add(_ exchange: Exchange, names: TopicNames) {
        // Read in place (a copy of the request would retain all it holds), and the row mutated in place: a copy
        // of it would copy its histogram's buckets for every exchange.
        Self.update(&self.apis[exchange.request.header.apiKey.rawValue, default: APIRow()], with: exchange)

        if let records = exchange.request.facts?.records { self.count(records, names: names, produced: true) }
        if let records = exchange.responseFacts?.records { self.count(records, names: names, produced: false) }
    }

    private mutating func topicRow(_ name: String) -> Int {
        if let last = self.lastTopic, last.name == name { return last.index }
        let index = self.topicIndex[name] ?? {
            self.topicRows.append(TopicRow())
            self.topicIndex[name] = self.topicRows.count - 1
            return self.topicRows.count - 1
        }()
        self.lastTopic = (name, index)
        return index
    }

    /// Read in place: iterating would copy each entry, and the topic name in it.
    private mutating func count(_ records: [RecordTraffic], names: TopicNames, produced: Bool) {
        for index in records.indices where records[index].tally.bytes > 0 {
            let topic = records[index].topic
            let name = topic.flatMap(names.name(of:)) ?? topic?.id?.base64 ?? ""
            Self.add(records[index].tally, to: &self.topicRows[self.topicRow(name)], produced: produced)
        }
    }

    /// Saturating: each batch may claim up to 2³¹ records, so a long enough hostile capture could add up past
    /// `Int.max`.
    private static func add(_ tally: RecordTally, to row: inout TopicRow, produced: Bool) {
        if produced {
            row.producedRecords.addSaturating(tally.records)
            row.producedBytes.addSaturating(tally.bytes)
        } else {
            row.fetchedRecords.addSaturating(tally.records)
            row.fetchedBytes.addSaturating(tally.bytes)
        }
    }

    private static func update(_ row: inout APIRow, with exchange: Exchange) {
        if let latency = exchange.latencyMicroseconds { row.latency.record(microseconds: latency) } else { row.unanswered += 1 }
        row.requestBytes += exchange.request.size
        row.responseBytes += exchange.responseSize
        for error in exchange.responseFacts?.errors ?? [] { row.errors[error.name, default: 0] += 1 }
    }

    /// The report; its client tables come from `clients`, which saw every request, answered or not.
    public func render(counters: CaptureCounters, brokerPorts: Set<UInt16>, clients: ClientDirectory, lag: LagSnapshot) -> String {
        var out = ""
        let apiRows = self.apis.sorted { ($1.value.requests, $0.key) < ($0.value.requests, $1.key) }.map { key, row -> [String] in
            let errors = row.errors.sorted { $0.value > $1.value }.map { "\($0.key)×\($0.value)" }.joined(separator: " ")
            return [
                APIKey(rawValue: key).name, String(row.requests), String(row.unanswered), Self.milliseconds(row.latency.percentile(0.5)),
                Self.milliseconds(row.latency.percentile(0.99)), Self.milliseconds(Double(row.latency.maximum)),
                String(row.requestBytes), String(row.responseBytes), errors.isEmpty ? "-" : errors,
            ]
        }
        out += Self.table(
            title: "Requests by API",
            header: ["api", "count", "unanswered", "p50 ms", "p99 ms", "max ms", "request bytes", "response bytes", "errors"],
            rows: apiRows)
        let clientRecords = clients.clients
        let clientRows = clientRecords.map { clientID, record in
            (clientID, record.software, record.requests.values.reduce(0, +))
        }.sorted { ($1.2, $0.0) < ($0.2, $1.0) }.map { clientID, software, count in
            [clientID.isEmpty ? "-" : clientID, software?.name ?? "unknown", software?.version ?? "unknown", String(count)]
        }
        out += Self.table(title: "Clients", header: ["client id", "software", "version", "requests"], rows: clientRows)
        out += Self.readiness(clientRecords)
        let topicRows = self.topicIndex.sorted { $0.key < $1.key }.map { name, index in
            let row = self.topicRows[index]
            return [name, String(row.producedRecords), String(row.producedBytes), String(row.fetchedRecords), String(row.fetchedBytes)]
        }
        out += Self.table(
            title: "Topics", header: ["topic", "produced records", "produced bytes", "fetched records", "fetched bytes"],
            rows: topicRows)
        out += Self.consumerGroups(lag)
        out += "Broker ports: \(brokerPorts.sorted().map(String.init).joined(separator: ", "))\n\nTotals\n"
        for (name, value) in counters.all {
            out += "  " + name.padding(toLength: 18, withPad: " ", startingAt: 0) + String(value) + "\n"
        }
        return out
    }

    /// The clients that use API versions Kafka 4.0 removed (KIP-896), or one line saying that none does.
    private static func readiness(_ clients: [(clientID: String, record: ClientRecord)]) -> String {
        let rows = clients.flatMap { clientID, record in
            record.removedInKafka4.map { key, count in
                [clientID.isEmpty ? "-" : clientID, record.software?.name ?? "unknown", key.apiName, String(key.version), String(count)]
            }
        }
        guard !rows.isEmpty else {
            return "Kafka 4.0 readiness\nEvery client is ready: none uses an API version that Kafka 4.0 removed.\n\n"
        }
        return Self.table(
            title: "Kafka 4.0 readiness: API versions Kafka 4.0 removed (KIP-896)",
            header: ["client id", "software", "api", "version", "requests"], rows: rows)
    }

    /// Per group and topic, as of the capture's last packet: what the proxy's `/lag` would have said then.
    private static func consumerGroups(_ lag: LagSnapshot) -> String {
        let rows = lag.groups.flatMap { group in
            group.topics.map { topic in
                [
                    group.group, topic.topic, String(topic.partitions.count), String(topic.committedOffsets),
                    topic.logEndOffsets.map(String.init) ?? "?", String(topic.lag),
                    topic.lagSeconds.map { String(format: "%.1f", $0) } ?? "?",
                    group.lastCommit.map { Timestamp.iso8601(microseconds: $0) } ?? "-",
                ]
            }
        }
        return Self.table(
            title: "Consumer groups (lag as of the capture's end; ? where the traffic did not show it)",
            header: ["group", "topic", "partitions", "committed", "log end", "lag", "lag s", "last commit"], rows: rows)
    }

    private static func milliseconds(_ microseconds: Double) -> String {
        String(format: "%.3f", microseconds / 1000)
    }

    private static func table(title: String, header: [String], rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ") + "\n"
        }
        var out = "\(title)\n" + line(header)
        out += rows.isEmpty ? "(none)\n" : rows.map(line).joined()
        return out + "\n"
    }
}

extension Int {
    mutating func addSaturating(_ other: Int) {
        let (sum, overflow) = self.addingReportingOverflow(other)
        self = overflow ? (other > 0 ? .max : .min) : sum
    }
}
