import KafkaCodec

/// What Produce answers said of partition logs: where each now ends and when its first and last new offsets were
/// appended, folded per partition until applied to the lag state.
///
/// The proxy applies them once per batch of answers it reads, under one lock, rather than once per answer: a
/// pipelining producer's answers arrive several to a read, all for the same partition, and applying each one
/// cost more than the rest of lag tracking.
struct ProducedLogs {
    struct Entry {
        var topic: TopicReference?
        var partition: Int32
        var end: Int64
        var first: OffsetTimeline.Sample
        var last: OffsetTimeline.Sample
        /// When the newest answer folded in was read (microseconds since the epoch).
        var time: Int64
    }

    /// Few at a time (the partitions of one batch of answers), so found by comparison rather than hashing.
    private(set) var entries: [Entry] = []

    var isEmpty: Bool { self.entries.isEmpty }

    mutating func removeAll() {
        self.entries.removeAll(keepingCapacity: true)
    }

    /// One Produce exchange, read at `time`.
    mutating func note(_ records: [RecordTraffic], response: MessageFacts, at time: Int64) {
        Self.forEachLog(written: records, answered: response) { topic, partition, end, first, last in
            self.fold(topic, partition, end: end, first: first, last: last, at: time)
        }
    }

    /// Calls `body` with each partition log a Produce exchange wrote to: its topic and partition as the request
    /// names them, where the log now ends (after the request's batches, placed at the response's base offset), and
    /// its first and last new offsets with when they were appended.
    static func forEachLog(
        written records: [RecordTraffic], answered response: MessageFacts,
        _ body: (TopicReference?, Int32, Int64, OffsetTimeline.Sample, OffsetTimeline.Sample) -> Void
    ) {
        records.withEntries { traffic in
            response.offsets.withEntries { offsets in
                for entry in traffic {
                    // Request and response name the topic alike (same version), so they pair without resolving names.
                    guard let span = entry.pointee.tally.span, let partition = entry.pointee.partition,
                        let position = offsets.firstIndex(where: {
                            $0.pointee.kind == .baseOffset && $0.pointee.partition == partition
                                && $0.pointee.topic == entry.pointee.topic
                        }),
                        offsets[position].pointee.value >= 0
                    else { continue }
                    let base = offsets[position].pointee.value
                    // From v2 the broker's append time follows: -1 unless the topic uses LogAppendTime, whose stamp
                    // then holds for every record; otherwise the producer's clock does.
                    let next = position + 1
                    let appendTime =
                        next < offsets.endIndex && offsets[next].pointee.kind == .logAppendTime ? offsets[next].pointee.value : -1
                    let (first, final) = appendTime >= 0 ? (appendTime, appendTime) : (span.firstTimestamp, span.lastTimestamp)
                    let last = base + span.offsetCount - 1
                    body(
                        entry.pointee.topic, partition, last + 1, .init(offset: base, timestamp: first),
                        .init(offset: last, timestamp: final))
                }
            }
        }
    }

    private mutating func fold(
        _ topic: TopicReference?, _ partition: Int32, end: Int64, first: OffsetTimeline.Sample, last: OffsetTimeline.Sample,
        at time: Int64
    ) {
        let folded = Entry(topic: topic, partition: partition, end: end, first: first, last: last, time: time)
        // The newest entry first: a batch of answers is mostly one partition's.
        guard let index = self.entries.lastIndex(where: { $0.partition == partition && $0.topic == topic }) else {
            self.entries.append(folded)
            return
        }
        self.entries[index].fold(folded)
    }
}

extension ProducedLogs.Entry {
    /// Takes in a later answer for the same partition, in one access to the entry.
    fileprivate mutating func fold(_ later: Self) {
        self.end = max(self.end, later.end)
        if later.first.offset < self.first.offset { self.first = later.first }
        if later.last.offset > self.last.offset { self.last = later.last }
        self.time = max(self.time, later.time)
    }
}
