/// The lag families in the Prometheus text format, named after kafka_exporter's so that its dashboards and alerts
/// translate. Rendered at scrape time from a snapshot, so a forgotten group's series go with it.
extension LagSnapshot {
    /// `label` caps a `group` or `topic` value (it may return `__other__`); series that fold together are added
    /// up (lags, members) or give their largest value (offsets, seconds, times).
    func exposition(label: (_ name: String, _ value: String) -> String) -> String {
        var families = LagFamilies()
        for group in self.groups {
            let groupLabel = ("group", label("group", group.group))
            families.add(.consumerGroupMembers, [groupLabel], Double(group.members), .sum)
            for topic in group.topics {
                let topicLabel = ("topic", label("topic", topic.topic))
                families.add(.consumerGroupLagSum, [groupLabel, topicLabel], Double(topic.lag), .sum)
                families.add(.consumerGroupLagObserved, [groupLabel, topicLabel], Double(topic.observedAt) / 1_000_000, .max)
                guard self.partitionSeries else { continue }
                for partition in topic.partitions {
                    let labels = [groupLabel, topicLabel, ("partition", String(partition.partition))]
                    families.add(.consumerGroupCurrentOffset, labels, Double(partition.committedOffset), .max)
                    if let lag = partition.lag { families.add(.consumerGroupLag, labels, Double(lag), .sum) }
                    if let seconds = partition.lagSeconds { families.add(.consumerGroupLagSeconds, labels, seconds, .max) }
                }
            }
        }
        if self.partitionSeries {
            for end in self.logEnds {
                let labels = [("topic", label("topic", end.topic)), ("partition", String(end.partition))]
                families.add(.topicPartitionCurrentOffset, labels, Double(end.offset), .max)
            }
        }
        for (table, count) in self.evictions {
            families.add(.lagEvictions, [("table", table)], Double(count), .sum)
        }
        return families.text
    }
}

/// The lag families being rendered, each series once.
private struct LagFamilies {
    typealias Family = MetricFamily

    /// The lag families, in the order they are written.
    static let families: [Family] = [
        .consumerGroupLag, .consumerGroupLagSum, .consumerGroupLagSeconds, .consumerGroupCurrentOffset,
        .topicPartitionCurrentOffset, .consumerGroupMembers, .consumerGroupLagObserved, .lagEvictions,
    ]

    enum Merge {
        case sum, max
    }

    private var series: [Family: [(labels: String, value: Double)]] = [:]
    private var positions: [Family: [String: Int]] = [:]

    mutating func add(_ family: Family, _ labels: [(String, String)], _ value: Double, _ merge: Merge) {
        let text = labels.map { "\($0.0)=\"\(Self.escaped($0.1))\"" }.joined(separator: ",")
        if let position = self.positions[family]?[text] {
            let old = self.series[family]![position].value
            self.series[family]![position].value = merge == .sum ? old + value : Swift.max(old, value)
        } else {
            self.positions[family, default: [:]][text] = self.series[family, default: []].count
            self.series[family, default: []].append((text, value))
        }
    }

    var text: String {
        var out = ""
        for family in Self.families {
            guard let series = self.series[family] else { continue }
            out += "# HELP \(family.rawValue) \(family.help)\n"
            out += "# TYPE \(family.rawValue) \(family == .lagEvictions ? "counter" : "gauge")\n"
            for (labels, value) in series {
                out += "\(family.rawValue){\(labels)} \(Self.number(value))\n"
            }
        }
        return out
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    private static func escaped(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
