import KafkaCodec

extension LagState {
    /// The APIs whose exchanges say something about consumer lag.
    static func isRelevant(_ api: APIKey) -> Bool {
        switch api {
        case .produce, .fetch, .listOffsets, .offsetCommit, .offsetFetch, .joinGroup, .heartbeat, .leaveGroup,
            .syncGroup, .txnOffsetCommit, .consumerGroupHeartbeat:
            true
        default:
            false
        }
    }

    /// Reads one request/response pair. `request` is nil when the request could not be read; `name` gives a
    /// topic's name (or its id in base64) as the per-topic metrics label it.
    mutating func observe(
        _ api: APIKey, request: MessageFacts?, response: MessageFacts, at time: Int64, name: (TopicReference?) -> String
    ) {
        func key(_ topic: TopicReference?, _ partition: Int32?) -> TopicPartition? {
            partition.map { TopicPartition(topic: name(topic), partition: $0) }
        }
        /// Partitions whose entry in the response carries an error, and whether the whole response failed.
        func failures() -> (partitions: Set<TopicPartition>, whole: Bool) {
            var partitions: Set<TopicPartition> = []
            var whole = false
            for error in response.errors {
                if let failed = key(error.topic, error.partition) { partitions.insert(failed) } else if error.topic == nil { whole = true }
            }
            return (partitions, whole)
        }
        let group = request?.groups.first
        switch api {
        case .produce:
            self.produced(request: request, response: response, at: time, key: key)
        case .fetch:
            // Each partition entry gives its high watermark, then its records: one visit of the partition for both.
            let records = response.records
            for offset in response.offsets where offset.kind == .highWatermark {
                guard let partition = key(offset.topic, offset.partition) else { continue }
                let span = records.first { $0.partition == offset.partition && $0.topic == offset.topic }?.tally.span
                self.logged(
                    partition, end: offset.value,
                    samples: span.map { (($0.firstOffset, $0.firstTimestamp), ($0.lastOffset, $0.lastTimestamp)) }, at: time)
            }
        case .listOffsets:
            // Only answers to "latest" (-1) are log ends; a ListOffsets answer never lowers one seen elsewhere.
            let latest = Set((request?.offsets ?? []).filter { $0.kind == .listedTimestamp && $0.value == -1 }.compactMap {
                key($0.topic, $0.partition)
            })
            for offset in response.offsets where offset.kind == .listedOffset {
                if let partition = key(offset.topic, offset.partition), latest.contains(partition) {
                    self.logEnd(offset.value, of: partition, at: time)
                }
            }
        case .offsetCommit, .txnOffsetCommit:
            guard let group, let request else { return }
            let (failed, whole) = failures()
            guard !whole else { return }
            var succeeded = false
            for offset in request.offsets where offset.kind == .committed {
                guard let partition = key(offset.topic, offset.partition), !failed.contains(partition) else { continue }
                self.committed(offset.value, group: group, partition: partition, at: time)
                succeeded = true
            }
            guard succeeded else { return }  // a refused commit may come from no member at all
            self.commitSucceeded(group: group, at: time)
            for member in request.members { self.memberSeen(member.memberID, group: group, at: time) }
        case .offsetFetch:
            let failed = failures().partitions
            for offset in response.offsets where offset.kind == .committed {
                // v8+ answers for several groups, each named in the response; before, for the one requested.
                guard let owner = offset.group ?? group, let partition = key(offset.topic, offset.partition),
                    !failed.contains(partition)
                else { continue }
                self.committed(offset.value, group: owner, partition: partition, at: time)
            }
        case .joinGroup, .heartbeat, .syncGroup, .consumerGroupHeartbeat:
            // A member answered with an error other than "rebalance in progress" is not (or no longer) in the group.
            guard let group, response.errors.allSatisfy({ $0.code == KafkaErrorName.rebalanceInProgress }) else { return }
            if api == .consumerGroupHeartbeat, let epoch = request?.memberEpoch, epoch < 0 {
                for member in request?.members ?? [] { self.memberLeft(member.memberID, group: group, at: time) }
                return
            }
            for member in (request?.members ?? []) + response.members { self.memberSeen(member.memberID, group: group, at: time) }
        case .leaveGroup:
            guard let group else { return }
            for member in request?.members ?? [] { self.memberLeft(member.memberID, group: group, at: time) }
        default:
            return
        }
    }

    /// A Produce exchange: the log now ends after the request's batches, placed at the response's base offset.
    private mutating func produced(
        request: MessageFacts?, response: MessageFacts, at time: Int64, key: (TopicReference?, Int32?) -> TopicPartition?
    ) {
        let offsets = response.offsets
        guard let records = request?.records, !offsets.isEmpty else { return }
        for traffic in records {
            // Request and response name the topic alike (same version), so they pair without resolving names.
            // Topic and partition taken out first: a closure using `traffic` would copy all of it.
            let (topic, partitionIndex) = (traffic.topic, traffic.partition)
            guard let span = traffic.tally.span,
                let position = offsets.firstIndex(where: {
                    $0.kind == .baseOffset && $0.partition == partitionIndex && $0.topic == topic
                }),
                offsets[position].value >= 0, let partition = key(topic, partitionIndex)
            else { continue }
            let base = offsets[position].value
            // From v2 the broker's append time follows: -1 unless the topic uses LogAppendTime, whose stamp then
            // holds for every record; otherwise the producer's clock does.
            let next = offsets.index(after: position)
            let appendTime = next < offsets.endIndex && offsets[next].kind == .logAppendTime ? offsets[next].value : -1
            let (first, final) = appendTime >= 0 ? (appendTime, appendTime) : (span.firstTimestamp, span.lastTimestamp)
            let last = base + span.offsetCount - 1
            self.logged(partition, end: last + 1, samples: ((base, first), (last, final)), at: time)
        }
    }
}
