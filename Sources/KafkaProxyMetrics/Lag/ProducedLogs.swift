import KafkaCodec

/// What Produce answers said of partition logs: where each now ends and when its first and last new offsets were
/// appended, folded per partition until applied to the lag state.
///
/// The proxy applies them once per 100 ms per connection, under one lock, rather than once per answer: a producer's
/// answers are nearly all for the same few partitions, and applying each one cost more than the rest of lag
/// tracking (see `ClientConnectionHandler+Lag`).
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
        Self.forEachLog(written: records, answered: response) { written, partition, end, first, last in
            // The newest entry first: a batch of answers is mostly one partition's. Entries are reached through
            // pointers, as reading one out of the array copied it whole, and its topic is copied only into a new one.
            let folded = self.entries.withUnsafeMutableBufferPointer { entries in
                guard let base = entries.baseAddress,
                    let index = entries.indices.last(where: {
                        base[$0].partition == partition && base[$0].topic == written.pointee.topic
                    })
                else { return false }
                base[index].fold(end: end, first: first, last: last, at: time)
                return true
            }
            if !folded {
                self.entries.append(
                    Entry(topic: written.pointee.topic, partition: partition, end: end, first: first, last: last, time: time))
            }
        }
    }

    /// Calls `body` with each partition log a Produce exchange wrote to: the request's entry for it (valid during the
    /// call only; its topic as the request names it), its partition, where the log now ends (after the request's
    /// batches, placed at the response's base offset), and its first and last new offsets with when they were
    /// appended.
    static func forEachLog(
        written records: [RecordTraffic], answered response: MessageFacts,
        _ body: (UnsafePointer<RecordTraffic>, Int32, Int64, OffsetTimeline.Sample, OffsetTimeline.Sample) -> Void
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
                    body(entry, partition, last + 1, .init(offset: base, timestamp: first), .init(offset: last, timestamp: final))
                }
            }
        }
    }
}

extension ProducedLogs.Entry {
    /// Takes in a later answer for the same partition, in one access to the entry.
    fileprivate mutating func fold(end: Int64, first: OffsetTimeline.Sample, last: OffsetTimeline.Sample, at time: Int64) {
        self.end = max(self.end, end)
        if first.offset < self.first.offset { self.first = first }
        if last.offset > self.last.offset { self.last = last }
        self.time = max(self.time, time)
    }
}
