/// Consumer lag as of one moment: what `/lag`, the lag metric families and the capture summary all show.
public struct LagSnapshot: Sendable {
    public struct Partition: Sendable {
        public var partition: Int32
        public var committedOffset: Int64
        /// When the committed offset was last seen (microseconds since the epoch).
        public var committedAt: Int64
        public var logEndOffset: Int64?
        public var logEndAt: Int64?
        /// Log end minus committed, never negative; nil while no log end offset is known.
        public var lag: Int64?
        /// How long ago the first uncommitted record was appended; nil when no batch seen covers it.
        public var lagSeconds: Double?

        /// The newest observation the lag rests on.
        public var observedAt: Int64 { max(self.committedAt, self.logEndAt ?? .min) }
    }

    public struct Topic: Sendable {
        public var topic: String
        public var partitions: [Partition]

        public var lag: Int64 { self.partitions.reduce(0) { $0 + ($1.lag ?? 0) } }
        public var committedOffsets: Int64 { self.partitions.reduce(0) { $0 + $1.committedOffset } }
        public var logEndOffsets: Int64? {
            self.partitions.allSatisfy { $0.logEndOffset != nil } ? self.partitions.reduce(0) { $0 + $1.logEndOffset! } : nil
        }
        public var lagSeconds: Double? { self.partitions.compactMap(\.lagSeconds).max() }
        public var observedAt: Int64 { self.partitions.map(\.observedAt).max() ?? 0 }
    }

    public struct Group: Sendable {
        public var group: String
        /// Members heard from within the member timeout, less those that left.
        public var members: Int
        public var lastSeen: Int64
        public var lastCommit: Int64?
        public var topics: [Topic]
    }

    public struct LogEnd: Sendable {
        public var topic: String
        public var partition: Int32
        public var offset: Int64
        public var observedAt: Int64
    }

    /// The moment the values hold for (microseconds since the epoch): the scrape, or a capture's last packet.
    public var now: Int64
    /// By group id, then topic, then partition.
    public var groups: [Group]
    public var logEnds: [LogEnd]
    /// Entries dropped to keep each table within its bound, by table (`groups`, `partitions`, `samples`).
    public var evictions: [(table: String, count: Int)]
    /// Whether per-partition series are exported.
    public var partitionSeries: Bool

    init(_ state: LagState, now: Int64) {
        self.now = now
        self.partitionSeries = state.settings.partitionSeries
        self.evictions = LagState.Table.allCases.map { ($0.rawValue, state.evictions[$0] ?? 0) }
        self.logEnds = state.logs.compactMap { key, log in
            log.end.map { LogEnd(topic: key.topic, partition: key.partition, offset: $0.value, observedAt: $0.at) }
        }.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
        let memberSince = now - state.settings.memberTimeoutMicroseconds
        self.groups = state.groups.map { group, record in
            let byTopic = Dictionary(grouping: record.committed.sorted { $0.key < $1.key }, by: \.key.topic)
            let topics = byTopic.keys.sorted().map { topic in
                Topic(topic: topic, partitions: byTopic[topic]!.map { key, committed in
                    Self.partition(key, committed: committed, log: state.logs[key], now: now)
                })
            }
            return Group(
                group: group, members: record.members.values.filter { $0 >= memberSince }.count, lastSeen: record.lastSeen,
                lastCommit: record.lastCommit, topics: topics)
        }.sorted { $0.group < $1.group }
    }

    private static func partition(_ key: TopicPartition, committed: Observed<Int64>, log: PartitionLog?, now: Int64) -> Partition {
        var partition = Partition(
            partition: key.partition, committedOffset: committed.value, committedAt: committed.at,
            logEndOffset: log?.end?.value, logEndAt: log?.end?.at)
        guard let end = log?.end?.value else { return partition }
        let lag = max(0, end - committed.value)
        partition.lag = lag
        if lag == 0 {
            partition.lagSeconds = 0
        } else if let appended = log?.timeline.timestamp(at: committed.value) {
            partition.lagSeconds = max(0, Double(now / 1000 - appended) / 1000)
        }
        return partition
    }
}
