import KafkaCodec

extension LagSnapshot {
    /// The document `GET /lag` serves and `kafkascope pcap --format lag` prints.
    public func json() -> String {
        var writer = JSONWriter()
        func time(_ key: String, _ microseconds: Int64?) {
            writer.key(key)
            if let microseconds { writer.string(Timestamp.iso8601(microseconds: microseconds)) } else { writer.raw("null") }
        }
        func integer(_ key: String, _ value: Int64?) {
            writer.key(key)
            if let value { writer.number(value) } else { writer.raw("null") }
        }
        func seconds(_ key: String, _ value: Double?) {
            writer.key(key)
            if let value { writer.raw(Self.seconds(value)) } else { writer.raw("null") }
        }
        writer.beginObject()
        time("as_of", self.now)
        writer.key("groups")
        writer.beginArray()
        for group in self.groups {
            writer.beginObject()
            writer.key("group")
            writer.string(group.group)
            writer.key("members")
            writer.number(group.members)
            time("last_seen", group.lastSeen)
            time("last_commit", group.lastCommit)
            writer.key("topics")
            writer.beginArray()
            for topic in group.topics {
                writer.beginObject()
                writer.key("topic")
                writer.string(topic.topic)
                integer("lag", topic.lag)
                seconds("lag_seconds", topic.lagSeconds)
                time("observed", topic.observedAt)
                writer.key("partitions")
                writer.beginArray()
                for partition in topic.partitions {
                    writer.beginObject()
                    writer.key("partition")
                    writer.number(partition.partition)
                    integer("committed_offset", partition.committedOffset)
                    time("committed_observed", partition.committedAt)
                    integer("log_end_offset", partition.logEndOffset)
                    time("log_end_observed", partition.logEndAt)
                    integer("lag", partition.lag)
                    seconds("lag_seconds", partition.lagSeconds)
                    writer.endObject()
                }
                writer.endArray()
                writer.endObject()
            }
            writer.endArray()
            writer.endObject()
        }
        writer.endArray()
        writer.key("log_end_offsets")
        writer.beginArray()
        for end in self.logEnds {
            writer.beginObject()
            writer.key("topic")
            writer.string(end.topic)
            writer.key("partition")
            writer.number(end.partition)
            integer("offset", end.offset)
            time("observed", end.observedAt)
            writer.endObject()
        }
        writer.endArray()
        writer.key("evictions")
        writer.beginObject()
        for (table, count) in self.evictions {
            writer.key(table)
            writer.number(count)
        }
        writer.endObject()
        writer.endObject()
        return writer.output + "\n"
    }

    /// Seconds with millisecond precision, as JSON and the exposition write them.
    static func seconds(_ value: Double) -> String {
        let milliseconds = Int64((value * 1000).rounded())
        let fraction = String(milliseconds % 1000)
        return "\(milliseconds / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
