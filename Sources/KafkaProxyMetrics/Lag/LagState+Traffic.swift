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

    /// Reads one request/response pair; `name` gives a topic's name (or its id in base64) as the per-topic
    /// metrics label it.
    mutating func observe(
        _ api: APIKey, request: LagRequest, response: MessageFacts, at time: Int64, name: (TopicReference?) -> String
    ) {
        func key(_ topic: TopicReference?, _ partition: Int32?) -> TopicPartition? {
            partition.map { TopicPartition(topic: name(topic), partition: $0) }
        }
        switch api {
        case .produce:
            ProducedLogs.forEachLog(written: request.records, answered: response) { written, partition, end, first, last in
                self.logged(
                    TopicPartition(topic: name(written.pointee.topic), partition: partition), end: end, samples: (first, last),
                    at: time)
            }
        case .fetch: self.fetched(response, at: time, key: key)
        default: self.offsetsAndGroups(api, request: request.facts, response: response, at: time, key: key)
        }
    }

    /// What Produce answers said of the logs, folded.
    mutating func apply(_ logs: ProducedLogs, name: (TopicReference?) -> String) {
        for entry in logs.entries {
            self.logged(
                TopicPartition(topic: name(entry.topic), partition: entry.partition), end: entry.end,
                samples: (entry.first, entry.last), at: entry.time)
        }
    }

    /// The rarer exchanges: ListOffsets, offsets committed and fetched back, and group membership.
    private mutating func offsetsAndGroups(
        _ api: APIKey, request: MessageFacts?, response: MessageFacts, at time: Int64,
        key: (TopicReference?, Int32?) -> TopicPartition?
    ) {
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

    /// A Fetch answer: each partition entry gives its high watermark, then its records, whose span says when
    /// their offsets were appended; one visit of the partition's log for both.
    private mutating func fetched(
        _ response: MessageFacts, at time: Int64, key: (TopicReference?, Int32?) -> TopicPartition?
    ) {
        response.offsets.withEntries { offsets in
            response.records.withEntries { records in
                for offset in offsets where offset.pointee.kind == .highWatermark {
                    guard let partition = key(offset.pointee.topic, offset.pointee.partition) else { continue }
                    let span = records.first {
                        $0.pointee.partition == offset.pointee.partition && $0.pointee.topic == offset.pointee.topic
                    }?.pointee.tally.span
                    self.logged(
                        partition, end: offset.pointee.value,
                        samples: span.map {
                            (.init(offset: $0.firstOffset, timestamp: $0.firstTimestamp),
                             .init(offset: $0.lastOffset, timestamp: $0.lastTimestamp))
                        }, at: time)
                }
            }
        }
    }
}
