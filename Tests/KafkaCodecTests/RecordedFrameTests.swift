import Foundation
import KafkaCodec
import KafkaTestSupport
import NIOCore
import Testing

/// Frames recorded between real clients and a real broker decode and re-encode to the identical bytes.
@Suite struct RecordedFrameTests {
    @Test(arguments: Fixtures.names)
    func everyRecordedFrameDecodesAndReencodesIdentically(fixture: String) throws {
        let frames = try Fixtures.frames(fixture)
        #expect(frames.count > 50)
        for frame in frames {
            let result = try frame.decode()
            #expect(!result.opaque, "\(frame) should be within the schemas")
            #expect(result.reencoded == frame.bytes, "\(frame) re-encodes differently")
        }
    }

    @Test(arguments: Fixtures.names)
    func fixturesCoverTheAPIsTheIssueNames(fixture: String) throws {
        let required: Set<APIKey> = [
            .apiVersions, .metadata, .createTopics, .produce, .fetch, .listOffsets, .findCoordinator, .joinGroup,
            .syncGroup, .heartbeat, .offsetCommit, .offsetFetch, .leaveGroup, .describeConfigs, .deleteTopics,
        ]
        let frames = try Fixtures.frames(fixture)
        let requests = Set(frames.filter { if case .request = $0.kind { true } else { false } }.map(\.apiKey))
        let responses = Set(frames.filter { if case .response = $0.kind { true } else { false } }.map(\.apiKey))
        #expect(required.subtracting(requests).isEmpty, "requests missing: \(required.subtracting(requests))")
        #expect(required.subtracting(responses).isEmpty, "responses missing: \(required.subtracting(responses))")
    }

    /// Sums the record counts of the Produce batches per topic and checks them, their codec and their CRC
    /// against what the recording script told the producers to do.
    @Test(arguments: Fixtures.names)
    func produceBatchHeadersMatchWhatWasProduced(fixture: String) throws {
        var counts: [String: Int] = [:]
        var codecs: [String: Set<String>] = [:]
        let topicSchema = try #require(MessageSchema.produceRequest.body.fields.first { $0.name == "topicData" })
        guard case .array(.structure(let topicStruct)) = topicSchema.type,
            case .array(.structure(let partitionStruct))? = topicStruct.fields.first(where: { $0.name == "partitionData" })?.type
        else {
            Issue.record("ProduceRequest schema lacks topicData.partitionData")
            return
        }
        for frame in try Fixtures.frames(fixture) where frame.apiKey == .produce {
            guard case .request = frame.kind, case .message(let request) = try KafkaCodec.decodeRequest(frame.payload),
                case .array(let topics)? = request.body.value("topicData", in: MessageSchema.produceRequest.body)
            else { continue }
            for case .structure(let topic) in topics {
                guard case .string(let name)? = topic.value("name", in: topicStruct),
                    case .array(let partitions)? = topic.value("partitionData", in: topicStruct)
                else { continue }
                for case .structure(let partition) in partitions {
                    guard case .records(let records)? = partition.value("records", in: partitionStruct) else { continue }
                    let set = try RecordBatchReader.read(records)
                    #expect(set.partialTailBytes == 0, "produce requests carry whole batches")
                    for case .batch(let batch) in set.entries {
                        #expect(batch.crcValid, "\(frame): CRC-32C of a produced batch")
                        #expect(batch.magic == 2)
                        counts[name, default: 0] += Int(batch.recordCount)
                        codecs[name, default: []].insert(batch.compression?.name ?? "unknown")
                    }
                }
            }
        }
        let expected = try Fixtures.expectations(fixture)
        #expect(!expected.isEmpty)
        for (topic, records, compression) in expected {
            #expect(counts[topic] == records, "records produced to \(topic)")
            #expect(codecs[topic] == [compression], "codec of \(topic)")
        }
    }

    @Test func fetchResponsesCarryValidBatches() throws {
        var batches = 0
        for frame in try Fixtures.all where frame.apiKey == .fetch {
            guard case .response(let key, let version) = frame.kind,
                case .message(let response) = try KafkaCodec.decodeResponse(frame.payload, apiKey: key, apiVersion: version)
            else { continue }
            let json = JSONRenderer.render(response)
            batches += json.components(separatedBy: "\"crcValid\":true").count - 1
            #expect(!json.contains("\"crcValid\":false"), "\(frame)")
        }
        #expect(batches > 0, "the consumers fetched the produced batches")
    }
}
