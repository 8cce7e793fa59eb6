import KafkaCodec
import KafkaTestSupport
import NIOCore
import Testing

@Suite struct MessageFactsTests {
    @Test(arguments: Fixtures.names)
    func recordedProduceRequestsCountWhatTheProducersSent(fixture: String) throws {
        var recordsByTopic: [String: Int] = [:]
        for frame in try Fixtures.frames(fixture) {
            guard case .request = frame.kind else { continue }
            let read = try KafkaCodec.inspectRequest(frame.payload)
            guard read.header.apiKey == .produce else { continue }
            let facts = try #require(read.facts)
            for traffic in facts.records {
                let name = try #require(traffic.topic?.name, "produce v\(read.header.apiVersion) names its topics")
                #expect(traffic.partition != nil)
                recordsByTopic[name, default: 0] += traffic.tally.records
            }
        }
        for expectation in try Fixtures.expectations(fixture) {
            #expect(recordsByTopic[expectation.topic] == expectation.records, "\(expectation.topic)")
        }
    }

    @Test func tallyAgreesWithTheFullBatchReader() throws {
        var fields = 0
        for frame in try Fixtures.all {
            let body: KafkaStruct
            switch frame.kind {
            case .request:
                guard case .message(let request) = try KafkaCodec.decodeRequest(frame.payload) else { continue }
                body = request.body
            case .response(let key, let version):
                guard case .message(let response) = try KafkaCodec.decodeResponse(frame.payload, apiKey: key, apiVersion: version)
                else { continue }
                body = response.body
            }
            for records in Self.recordFields(in: .structure(body)) {
                let full = try RecordBatchReader.read(records)
                let tally = RecordBatchReader.tally(records)
                #expect(tally.records == full.recordCount, "\(frame)")
                #expect(tally.bytes == records.readableBytes - full.partialTailBytes, "\(frame)")
                fields += 1
            }
        }
        #expect(fields > 20, "the fixtures carry records in produce requests and fetch responses")
    }

    private static func recordFields(in value: KafkaValue) -> [ByteBuffer] {
        switch value {
        case .records(let records): [records]
        case .array(let elements): elements.flatMap(Self.recordFields)
        case .structure(let value): value.values.flatMap { $0.map(Self.recordFields) ?? [] }
        default: []
        }
    }

    @Test func errorsCarryTheirTopicAndPartitionAndThrottleIsRead() throws {
        // ProduceResponse v8: one topic, partition 3 failed with NOT_LEADER_OR_FOLLOWER, partition 4 succeeded.
        var body = ByteBuffer()
        body.writeInteger(Int32(7))  // correlation id
        body.writeInteger(Int32(1))
        body.writeInteger(Int16(6))
        body.writeString("orders")
        body.writeInteger(Int32(2))
        for (partition, code) in [(Int32(3), Int16(6)), (4, 0)] {
            body.writeMultipleIntegers(partition, code, Int64(-1), Int64(-1), Int64(0))
            body.writeInteger(Int32(0))  // recordErrors
            body.writeInteger(Int16(-1))  // errorMessage: null
        }
        body.writeInteger(Int32(250))
        let facts = try #require(try KafkaCodec.inspectResponse(body, apiKey: .produce, apiVersion: 8))
        #expect(facts.throttleMilliseconds == 250)
        #expect(facts.errors.count == 1)
        #expect(facts.errors.first?.name == "NOT_LEADER_OR_FOLLOWER")
        #expect(facts.errors.first?.topic?.name == "orders")
        #expect(facts.errors.first?.partition == 3)
    }

    @Test func topicIdentityIsFoundWhereverSchemasGiveIt() throws {
        let metadataTopic = try #require(Self.nested(MessageSchema.metadataResponse.body, "topics"))
        #expect(metadataTopic.roles.topicName != nil && metadataTopic.roles.topicID != nil && metadataTopic.roles.errorCode != nil)
        let fetchTopic = try #require(Self.nested(MessageSchema.fetchResponse.body, "responses"))
        #expect(fetchTopic.roles.topicName != nil && fetchTopic.roles.topicID != nil)
        let fetchPartition = try #require(Self.nested(fetchTopic, "partitions"))
        #expect(fetchPartition.roles.partition != nil && fetchPartition.roles.records != nil && fetchPartition.roles.errorCode != nil)
    }

    @Test(arguments: [(Int16(-1), "UNKNOWN_SERVER_ERROR"), (6, "NOT_LEADER_OR_FOLLOWER"), (36, "TOPIC_ALREADY_EXISTS"),
                      (127, "VOTER_NOT_FOUND"), (500, "UNKNOWN_CODE_500"), (-7, "UNKNOWN_CODE_-7")])
    func errorNamesFollowTheProtocolGuide(code: Int16, name: String) {
        #expect(KafkaErrorName.of(code) == name)
    }

    private static func nested(_ schema: StructSchema, _ field: String) -> StructSchema? {
        guard let index = schema.index(of: field) else { return nil }
        switch schema.fields[index].type {
        case .array(.structure(let nested)), .structure(let nested): return nested
        default: return nil
        }
    }
}
