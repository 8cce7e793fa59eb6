import KafkaTestSupport
import NIOCore
import Testing

@testable import KafkaCodec
@testable import KafkaProxyMetrics

/// Consumer lag on its rules, fed facts as the readers make them; and on recorded traffic, where both fact readers
/// must give the same lag.
@Suite struct ConsumerLagTests {
    private static let second: Int64 = 1_000_000
    private let topic = TopicReference(name: "orders", id: nil)

    private func facts(_ build: (inout MessageFacts) -> Void) -> MessageFacts {
        var facts = MessageFacts()
        build(&facts)
        return facts
    }

    private func commit(_ lag: ConsumerLag, group: String, offsets: [Int32: Int64], failing: Set<Int32> = [], at time: Int64) {
        let request = self.facts { facts in
            facts.noteGroup(group)
            facts.noteMember("member-1", group: group)
            for (partition, offset) in offsets { facts.noteOffset(.committed, offset, group: group, topic: self.topic, partition: partition) }
        }
        let response = self.facts { facts in
            for partition in failing { facts.errors.append(ErrorOccurrence(code: 22, topic: self.topic, partition: partition)) }
        }
        lag.observe(.offsetCommit, request: LagRequest(.offsetCommit, facts: request), response: response, at: time, name: { $0?.name ?? "" })
    }

    private func highWatermark(_ lag: ConsumerLag, _ offsets: [Int32: Int64], at time: Int64) {
        let response = self.facts { facts in
            for (partition, offset) in offsets { facts.noteOffset(.highWatermark, offset, group: nil, topic: self.topic, partition: partition) }
        }
        lag.observe(.fetch, request: LagRequest(.fetch, facts: MessageFacts()), response: response, at: time, name: { $0?.name ?? "" })
    }

    private func produce(_ lag: ConsumerLag, partition: Int32, records: Int64, base: Int64, createTime: Int64, at time: Int64) {
        let request = self.facts { facts in
            var tally = RecordTally(records: Int(records), bytes: 100)
            tally.span = RecordSpan(
                firstOffset: 0, lastOffset: records - 1, firstTimestamp: createTime, lastTimestamp: createTime)
            facts.noteRecords(tally, topic: self.topic, partition: partition)
        }
        let response = self.facts { facts in
            facts.noteOffset(.baseOffset, base, group: nil, topic: self.topic, partition: partition)
            facts.noteOffset(.logAppendTime, -1, group: nil, topic: self.topic, partition: partition)
        }
        lag.observe(.produce, request: LagRequest(.produce, facts: request), response: response, at: time, name: { $0?.name ?? "" })
    }

    @Test func lagIsLogEndMinusCommittedAndFailedCommitsDoNotCount() throws {
        let lag = ConsumerLag()
        self.highWatermark(lag, [0: 500, 1: 300], at: 10 * Self.second)
        self.commit(lag, group: "g", offsets: [0: 200, 1: 300], at: 11 * Self.second)
        self.commit(lag, group: "g", offsets: [0: 450, 1: 50], failing: [0, 1], at: 12 * Self.second)
        let snapshot = lag.snapshot()
        let topic = try #require(snapshot.groups.first?.topics.first)
        #expect(topic.partitions.map(\.committedOffset) == [200, 300])
        #expect(topic.partitions.map(\.lag) == [300, 0])
        #expect(topic.lag == 300)
        #expect(snapshot.groups.first?.lastCommit == 11 * Self.second, "the failed commit is no commit")
        #expect(snapshot.groups.first?.members == 1)
    }

    @Test func produceResultsMoveTheLogEndAndListOffsetsNeverLowersIt() throws {
        let lag = ConsumerLag()
        self.produce(lag, partition: 0, records: 100, base: 1000, createTime: 5_000, at: Self.second)
        #expect(lag.snapshot().logEnds.map(\.offset) == [1100])
        // Tansu's ListOffsets latest answers too low: it must not pull the log end back.
        let request = self.facts { $0.noteOffset(.listedTimestamp, -1, group: nil, topic: self.topic, partition: 0) }
        let response = self.facts { $0.noteOffset(.listedOffset, 961, group: nil, topic: self.topic, partition: 0) }
        lag.observe(.listOffsets, request: LagRequest(.listOffsets, facts: request), response: response, at: 2 * Self.second, name: { $0?.name ?? "" })
        #expect(lag.snapshot().logEnds.map(\.offset) == [1100])
        let higher = self.facts { $0.noteOffset(.listedOffset, 1200, group: nil, topic: self.topic, partition: 0) }
        lag.observe(.listOffsets, request: LagRequest(.listOffsets, facts: request), response: higher, at: 3 * Self.second, name: { $0?.name ?? "" })
        #expect(lag.snapshot().logEnds.map(\.offset) == [1200])
        // An answer for a time rather than the latest offset says nothing of the log end.
        let byTime = self.facts { $0.noteOffset(.listedTimestamp, 4_000, group: nil, topic: self.topic, partition: 0) }
        let old = self.facts { $0.noteOffset(.listedOffset, 5_000, group: nil, topic: self.topic, partition: 0) }
        lag.observe(.listOffsets, request: LagRequest(.listOffsets, facts: byTime), response: old, at: 4 * Self.second, name: { $0?.name ?? "" })
        #expect(lag.snapshot().logEnds.map(\.offset) == [1200])
    }

    @Test func lagInSecondsIsTheAgeOfTheFirstUncommittedRecord() throws {
        let lag = ConsumerLag()
        // Records 0–99 created at t=100 s, 100–199 at t=110 s; the group committed 150 (so 150 is the first not consumed).
        self.produce(lag, partition: 0, records: 100, base: 0, createTime: 100_000, at: 100 * Self.second)
        self.produce(lag, partition: 0, records: 100, base: 100, createTime: 110_000, at: 110 * Self.second)
        self.commit(lag, group: "g", offsets: [0: 150], at: 111 * Self.second)
        let partition = try #require(lag.snapshot(now: 120 * Self.second).groups.first?.topics.first?.partitions.first)
        #expect(partition.lag == 50)
        #expect(partition.lagSeconds == 10)  // offsets 100–199 share one sample time
        self.commit(lag, group: "g", offsets: [0: 50], at: 112 * Self.second)
        let earlier = try #require(lag.snapshot(now: 120 * Self.second).groups.first?.topics.first?.partitions.first)
        #expect(earlier.lagSeconds == 20)
        self.commit(lag, group: "g", offsets: [0: 200], at: 113 * Self.second)
        #expect(lag.snapshot(now: 500 * Self.second).groups.first?.topics.first?.partitions.first?.lagSeconds == 0)
    }

    /// Values from the wire that cannot be offsets (-1 for "none", or worse) change nothing.
    @Test func offsetsThatCannotBeTrueAreIgnored() throws {
        let lag = ConsumerLag()
        self.highWatermark(lag, [0: 100], at: Self.second)
        self.commit(lag, group: "g", offsets: [0: 40], at: 2 * Self.second)
        self.highWatermark(lag, [0: -1, 1: -7], at: 3 * Self.second)  // a partition answered with an error
        self.commit(lag, group: "g", offsets: [0: -1, 1: -5], at: 4 * Self.second)  // -1: no offset committed
        self.produce(lag, partition: 0, records: 10, base: -1, createTime: 5_000, at: 5 * Self.second)  // acks failed
        let snapshot = lag.snapshot()
        #expect(snapshot.logEnds.map { [$0.partition: $0.offset] } == [[0: 100]])
        let partitions = try #require(snapshot.groups.first?.topics.first?.partitions)
        #expect(partitions.map(\.committedOffset) == [40])
        #expect(partitions.map(\.lag) == [60])
    }

    @Test func timelineInterpolatesAndStaysBounded() {
        var timeline = OffsetTimeline()
        #expect(timeline.add(.init(offset: 0, timestamp: 1_000), capacity: 8) == 0)
        #expect(timeline.add(.init(offset: 100, timestamp: 2_000), capacity: 8) == 0)
        #expect(timeline.timestamp(at: 50) == 1_500)
        #expect(timeline.timestamp(at: 101) == nil, "past every batch seen")
        var dropped = 0
        for offset in stride(from: 200, through: 10_000, by: 100) {
            dropped += timeline.add(.init(offset: Int64(offset), timestamp: Int64(offset) * 10 + 1_000), capacity: 8)
        }
        #expect(timeline.samples.count <= 8)
        #expect(dropped == 101 - timeline.samples.count)
        #expect(timeline.samples.first?.offset == 0 && timeline.samples.last?.offset == 10_000, "thinning keeps the range")
        #expect(timeline.timestamp(at: 5_050) == 51_500)
    }

    @Test func aBatchEveryMillisecondKeepsSamplesASpacingApart() {
        var timeline = OffsetTimeline()
        var dropped = 0
        for offset in 0..<5_000 {  // one record a millisecond for 5 s
            dropped += timeline.add(.init(offset: Int64(offset), timestamp: 1_000_000 + Int64(offset)), capacity: 64)
        }
        #expect(dropped == 0, "5 s at a sample per 100 ms fit in 64")
        #expect((50...52).contains(timeline.samples.count))
        #expect(timeline.samples.last == .init(offset: 4_999, timestamp: 1_004_999), "the newest batch is exact")
        for offset in stride(from: 0, to: 5_000, by: 37) {
            let error = abs(timeline.timestamp(at: Int64(offset))! - (1_000_000 + Int64(offset)))
            #expect(error <= OffsetTimeline.spacing)
        }
    }

    @Test func fetchingWhatWasJustProducedAddsNoSamples() {
        var timeline = OffsetTimeline()
        for offset in stride(from: 0, through: 5_000, by: 1_000) {  // produced: a batch of 1,000 every 50 ms
            _ = timeline.add(.init(offset: Int64(offset), timestamp: 1_000_000 + Int64(offset) / 20), capacity: 64)
        }
        let produced = timeline.samples
        for offset in stride(from: 1, to: 5_000, by: 7) {  // then fetched in small pieces
            #expect(timeline.add(.init(offset: Int64(offset), timestamp: 1_000_000 + Int64(offset) / 20), capacity: 64) == 0)
        }
        #expect(timeline.samples == produced, "between samples under 100 ms apart, interpolation is that close already")
        var sparse = OffsetTimeline()
        _ = sparse.add(.init(offset: 0, timestamp: 1_000), capacity: 64)
        _ = sparse.add(.init(offset: 1_000, timestamp: 9_000), capacity: 64)
        _ = sparse.add(.init(offset: 100, timestamp: 1_500), capacity: 64)
        #expect(sparse.samples.map(\.offset) == [0, 100, 1_000], "between samples 8 s apart, a fetched batch is a sample")
        #expect(sparse.timestamp(at: 50) == 1_250)
    }

    @Test func onlyWhatLagReadsOfARequestIsKept() {
        var produce = MessageFacts()
        var tally = RecordTally(records: 3, bytes: 300)
        tally.span = RecordSpan(firstOffset: 0, lastOffset: 2, firstTimestamp: 5, lastTimestamp: 7)
        produce.noteRecords(tally, topic: self.topic, partition: 1)
        produce.noteGroup("ignored")
        let kept = LagRequest(.produce, facts: produce)
        #expect(kept.records == produce.records)
        #expect(kept.facts == nil, "a Produce request keeps its record entries alone")
        #expect(!LagRequest.isKept(.fetch) && LagRequest(.fetch, facts: produce).records.isEmpty)
        var commit = MessageFacts()
        commit.noteGroup("g")
        #expect(LagRequest.isKept(.offsetCommit))
        #expect(LagRequest(.offsetCommit, facts: commit).facts?.groups == ["g"])
        #expect(LagRequest.nothing.facts == nil && LagRequest.nothing.records.isEmpty)
    }

    @Test func answersPairWithTheOldestRequestOfTheirAPI() {
        var lag = ConnectionLag()
        lag.requested(.offsetCommit, facts: self.facts { $0.noteGroup("first") })
        lag.requested(.offsetCommit, facts: self.facts { $0.noteGroup("second") })
        let produced = self.facts { facts in
            var tally = RecordTally(records: 3, bytes: 300)
            tally.span = RecordSpan(firstOffset: 0, lastOffset: 2, firstTimestamp: 5, lastTimestamp: 7)
            facts.noteRecords(tally, topic: self.topic, partition: 1)
        }
        lag.requested(.produce, facts: produced)
        lag.requestedUnread(.produce)
        let answer = self.facts { $0.noteOffset(.baseOffset, 40, group: nil, topic: self.topic, partition: 1) }
        #expect(lag.answered(.produce, response: answer, at: 9) == nil, "a Produce answer is folded, not handed back")
        #expect(lag.logs.entries.map(\.end) == [43], "paired with its request behind the older commits: 3 records at 40")
        _ = lag.answered(.produce, response: answer, at: 10)
        #expect(lag.logs.entries.map(\.end) == [43], "the second answer pairs with the unreadable request, which wrote nothing")
        #expect(lag.answered(.offsetCommit, response: MessageFacts(), at: 11)?.facts?.groups == ["first"])
        lag.answeredUnread(.offsetCommit)
        #expect(lag.answered(.offsetCommit, response: MessageFacts(), at: 13) == nil, "an unreadable answer took the second")
        #expect(lag.answered(.fetch, response: MessageFacts(), at: 14) != nil, "a Fetch answer is read without its request")
    }

    @Test func groupsAreBoundedEvictedOldestFirstAndForgottenWhenIdle() throws {
        var settings = LagSettings()
        settings.maximumGroups = 3
        settings.groupIdleMicroseconds = 600 * Self.second
        let lag = ConsumerLag(settings: settings)
        for index in 0..<5 { self.commit(lag, group: "g\(index)", offsets: [0: 1], at: Int64(index + 1) * Self.second) }
        var snapshot = lag.snapshot()
        #expect(snapshot.groups.map(\.group) == ["g2", "g3", "g4"])
        #expect(snapshot.evictions.first { $0.table == "groups" }?.count == 2)
        snapshot = lag.snapshot(now: 604 * Self.second)
        #expect(snapshot.groups.map(\.group) == ["g3", "g4"], "g2, last seen at 3 s, idle for more than 600 s")
    }

    @Test func consumerGroupHeartbeatMembersJoinAndLeave() throws {
        let lag = ConsumerLag()
        func heartbeat(_ member: String, epoch: Int32, at time: Int64) {
            let request = self.facts { facts in
                facts.noteGroup("kip848")
                facts.noteMember(member, group: "kip848")
                facts.noteMemberEpoch(epoch)
            }
            lag.observe(.consumerGroupHeartbeat, request: LagRequest(.consumerGroupHeartbeat, facts: request), response: MessageFacts(), at: time, name: { $0?.name ?? "" })
        }
        heartbeat("a", epoch: 0, at: Self.second)
        heartbeat("b", epoch: 0, at: 2 * Self.second)
        heartbeat("c", epoch: 3, at: 3 * Self.second)
        #expect(lag.snapshot().groups.first?.members == 3)
        heartbeat("b", epoch: -1, at: 4 * Self.second)
        #expect(lag.snapshot().groups.first?.members == 2)
        #expect(lag.snapshot(now: 47 * Self.second).groups.first?.members == 1, "a was last heard 46 s ago")
    }

    /// The recorded workloads consume every record and commit: lag 0, the log end equal to the records produced,
    /// from the proxy's recorder and from the bytes-only reader alike.
    @Test(arguments: Fixtures.names)
    func recordedTrafficEndsWithoutLagOnBothReadingPaths(fixture: String) throws {
        let metrics = KafkascopeMetrics(lagAsOfWallClock: false)
        let direct = ConsumerLag()
        var recorders: [Int: ExchangeRecorder] = [:]
        var pending: [Int: [Int32: MessageFacts?]] = [:]
        var names = [KafkaUUID: String]()
        var time: Int64 = 1_000 * Self.second
        for frame in try Fixtures.frames(fixture) {
            time += 1_000
            let recorder = recorders[frame.connection] ?? metrics.recorder(broker: "1", client: nil)
            recorders[frame.connection] = recorder
            switch frame.kind {
            case .request:
                let header = try #require(KafkaCodec.peekRequestHeader(frame.payload))
                let expectsResponse = KafkaCodec.expectsResponse(frame.payload, header: header)
                recorder.requestRead(frame.payload, header: header, frameBytes: frame.bytes.readableBytes, expectsResponse: expectsResponse, at: time)
                pending[frame.connection, default: [:]][header.correlationID] = try KafkaCodec.inspectRequest(frame.payload).facts
            case .response(let key, let version):
                recorder.responseRead(frame.payload, apiKey: key, apiVersion: version, frameBytes: frame.bytes.readableBytes, brokerDuration: nil, at: time)
                recorder.applyProducedLogs()
                let correlationID = try #require(frame.payload.getInteger(at: frame.payload.readerIndex, as: Int32.self))
                let request = pending[frame.connection]?.removeValue(forKey: correlationID) ?? nil
                let response = try #require(try KafkaCodec.inspectResponse(frame.payload, apiKey: key, apiVersion: version))
                names.merge(response.topicNames) { _, new in new }
                if ConsumerLag.isRelevant(key) {
                    direct.observe(key, request: request.map { LagRequest(key, facts: $0) } ?? .nothing, response: response, at: time) { topic in
                        topic?.name ?? topic?.id.flatMap { names[$0] } ?? topic?.id?.base64 ?? ""
                    }
                }
            }
        }
        let viaRecorder = try #require(metrics.lagSnapshot())
        #expect(viaRecorder.json() == direct.snapshot().json(), "both fact readers, one lag")
        let groups = viaRecorder.groups
        #expect(groups.count == 1)
        for expectation in try Fixtures.expectations(fixture) {
            let topic = try #require(groups.first?.topics.first { $0.topic == expectation.topic }, "\(expectation.topic)")
            #expect(topic.partitions.count == 3)
            #expect(topic.committedOffsets == Int64(expectation.records))
            #expect(topic.logEndOffsets == Int64(expectation.records))
            #expect(topic.lag == 0)
            #expect(topic.lagSeconds == 0)
        }
        let exposition = Exposition(metrics.exposition())
        #expect(exposition.sum("kafkascope_consumergroup_lag") == 0)
        #expect(exposition.sum("kafkascope_consumergroup_current_offset") == Double(try Fixtures.expectations(fixture).map(\.records).reduce(0, +)))
        #expect(exposition.values(of: "group", in: "kafkascope_consumergroup_lag_sum").count == 1)
    }
}
