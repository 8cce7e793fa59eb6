/// A topic partition, the topic by name (or by id, in base64, until a response names it).
struct TopicPartition: Hashable, Comparable, Sendable {
    var topic: String
    var partition: Int32

    static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}

/// A value and the time it was last seen (microseconds since the epoch).
struct Observed<Value: Sendable>: Sendable {
    var value: Value
    var at: Int64
}

/// What is known of one partition's log: its end offset and when offsets were appended.
struct PartitionLog: Sendable {
    var end: Observed<Int64>?
    var timeline = OffsetTimeline()
}

/// What is known of one consumer group.
struct GroupRecord: Sendable {
    var committed: [TopicPartition: Observed<Int64>] = [:]
    /// Members by id, with when each was last heard from.
    var members: [String: Int64] = [:]
    var lastSeen: Int64
    var lastCommit: Int64?
}

/// Everything consumer-lag tracking keeps, bounded by `LagSettings`; the evictions are counted per table.
struct LagState: Sendable {
    enum Table: String, CaseIterable {
        case groups, partitions, samples
    }

    let settings: LagSettings
    var groups: [String: GroupRecord] = [:]
    var logs: [TopicPartition: PartitionLog] = [:]
    var evictions: [Table: Int] = [:]
    /// The newest time any observation carried: "now" for a capture, whose clock is its packets'.
    var latest: Int64 = 0
    private var lastSweep: Int64 = 0
    /// The partition logs found last and where: traffic mostly goes to a few partitions at a time, and comparing
    /// keys is cheaper than hashing them. Inserting or removing a log invalidates the indices.
    private var recentLogs: [(partition: TopicPartition, index: Dictionary<TopicPartition, PartitionLog>.Index)] = []
    private static let recentLogsKept = 4

    init(settings: LagSettings) {
        self.settings = settings
    }

    // MARK: Facts

    mutating func committed(_ offset: Int64, group: String, partition: TopicPartition, at time: Int64) {
        guard offset >= 0 else { return }  // -1: nothing committed
        let capacity = self.settings.maximumPartitions
        var refused = false
        self.touch(group, at: time) { record in
            refused = record.committed[partition] == nil && record.committed.count >= capacity
            if !refused { record.committed[partition] = Observed(value: offset, at: time) }
        }
        if refused { self.evictions[.partitions, default: 0] += 1 }
    }

    mutating func commitSucceeded(group: String, at time: Int64) {
        self.touch(group, at: time) { record in record.lastCommit = time }
    }

    /// A log end offset seen: the log end only moves forward, as a lower one may come from a stale answer.
    mutating func logEnd(_ offset: Int64, of partition: TopicPartition, at time: Int64) {
        self.logged(partition, end: offset, samples: nil, at: time)
    }

    /// What one partition entry says of the log: its end offset, if it gives one, and when offsets were appended
    /// (the first and last new offsets, with their times in milliseconds), in one visit of the partition's record.
    mutating func logged(
        _ partition: TopicPartition, end: Int64?, samples: (first: OffsetTimeline.Sample, last: OffsetTimeline.Sample)?,
        at time: Int64
    ) {
        let capacity = self.settings.samplesPerPartition
        var dropped = 0
        self.editLog(partition) { log in
            if let end, end >= 0 {
                if let known = log.end, known.value > end {
                    log.end?.at = max(known.at, time)
                } else {
                    log.end = Observed(value: end, at: time)
                }
            }
            if let (first, last) = samples {
                dropped += log.timeline.add(first, capacity: capacity)
                if last != first { dropped += log.timeline.add(last, capacity: capacity) }
            }
        }
        if dropped > 0 { self.evictions[.samples, default: 0] += dropped }
    }

    mutating func memberSeen(_ member: String, group: String, at time: Int64) {
        let capacity = self.settings.maximumPartitions
        self.touch(group, at: time) { record in
            if record.members[member] != nil || record.members.count < capacity { record.members[member] = time }
        }
    }

    mutating func memberLeft(_ member: String, group: String, at time: Int64) {
        self.touch(group, at: time) { record in record.members[member] = nil }
    }

    // MARK: Bounds

    /// Finds or makes `group`'s record, evicting the group seen longest ago when the table is full.
    private mutating func touch(_ group: String, at time: Int64, _ change: (inout GroupRecord) -> Void) {
        self.advance(to: time)
        if self.groups[group] == nil, self.groups.count >= self.settings.maximumGroups,
            let oldest = self.groups.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key
        {
            self.groups[oldest] = nil
            self.evictions[.groups, default: 0] += 1
        }
        var record = self.groups.removeValue(forKey: group) ?? GroupRecord(lastSeen: time)
        record.lastSeen = max(record.lastSeen, time)
        change(&record)
        self.groups[group] = record
    }

    private mutating func editLog(_ partition: TopicPartition, _ change: (inout PartitionLog) -> Void) {
        if let recent = self.recentLogs.first(where: { $0.partition == partition }) {
            change(&self.logs.values[recent.index])
            return
        }
        if let index = self.logs.index(forKey: partition) {
            if self.recentLogs.count == Self.recentLogsKept { self.recentLogs.removeFirst() }
            self.recentLogs.append((partition, index))
            change(&self.logs.values[index])
            return
        }
        self.recentLogs.removeAll(keepingCapacity: true)
        if self.logs.count >= self.settings.maximumPartitions,
            let oldest = self.logs.min(by: { ($0.value.end?.at ?? 0) < ($1.value.end?.at ?? 0) })?.key
        {
            self.logs[oldest] = nil
            self.evictions[.partitions, default: 0] += 1
        }
        var log = PartitionLog()
        change(&log)
        self.logs[partition] = log
    }

    /// Moves the clock on and, once a minute, forgets the groups idle for longer than the settings allow.
    private mutating func advance(to time: Int64) {
        self.latest = max(self.latest, time)
        guard self.latest - self.lastSweep >= 60 * 1_000_000 else { return }
        self.lastSweep = self.latest
        self.forgetIdleGroups(now: self.latest)
    }

    mutating func forgetIdleGroups(now: Int64) {
        let limit = now - self.settings.groupIdleMicroseconds
        self.groups = self.groups.filter { $0.value.lastSeen >= limit }
    }
}
