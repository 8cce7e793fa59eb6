import Foundation
import KafkaCodec
import KafkaTestSupport
import NIOCore
import Testing

/// Frames at today's newest versions, encoded by hand in Python from the August 2026 schemas (no broker or client
/// available here speaks them): the codec reads each and writes it back byte for byte, and `kafkascope decode`
/// names every field.
@Suite struct NewestVersionsTests {
    static let frames = (try? Fixtures.frames(Fixtures.newestVersions)) ?? []

    @Test func theFixtureCoversTheNewestAPIsAndVersions() {
        var covered = Set<String>()
        for frame in Self.frames {
            let version: Int16 = switch frame.kind {
            case .request: KafkaCodec.peekRequestHeader(frame.payload)!.apiVersion
            case .response(_, let version): version
            }
            covered.insert("\(frame.apiKey.name) v\(version)")
        }
        let required = [
            "ApiVersions v5", "Metadata v13", "Produce v13", "Fetch v18", "FindCoordinator v6", "DescribeCluster v2",
            "StreamsGroupHeartbeat v1", "StreamsGroupDescribe v1", "DescribeShareGroupOffsets v1",
            "AlterShareGroupOffsets v0", "DeleteShareGroupOffsets v0", "StreamsGroupTopologyDescriptionUpdate v0",
            "UnregisterController v0",
        ]
        #expect(Set(required).isSubset(of: covered), "missing: \(Set(required).subtracting(covered).sorted())")
        #expect(Self.frames.count == 2 * required.count, "one request and one response each")
    }

    @Test(arguments: Self.frames)
    func decodesAndReencodesByteForByte(frame: Fixtures.Frame) throws {
        let (opaque, reencoded) = try frame.decode()
        #expect(!opaque, "\(frame): \(frame.apiKey.name) at this version must be known to the codec")
        #expect(reencoded == frame.bytes, "\(frame) re-encodes differently")
    }

    @Test(arguments: Self.frames)
    func theDecodeCommandNamesEveryField(frame: Fixtures.Frame) throws {
        var arguments = ["decode", "--hex"]
        if case .response(let key, let version) = frame.kind {
            arguments += ["--response", "--api-key", "\(key.rawValue)", "--api-version", "\(version)"]
        }
        let result = try KafkascopeProcess.run(arguments, stdin: Data(frame.bytes.hexDump(format: .plain).utf8))
        #expect(result.status == 0, "\(frame): \(result.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(json?["api"] as? String == frame.apiKey.name, "\(frame)")
        let body = try #require(json?["body"] as? [String: Any], "\(frame)")
        #expect(!body.isEmpty, "\(frame)")
    }

    /// The topic ids of Produce v13 are facts like Fetch's: the per-topic metrics name them from Metadata.
    @Test func produceV13NamesItsTopicsByID() throws {
        let produce = try #require(Self.frames.first { frame in
            if case .request = frame.kind { return frame.apiKey == .produce }
            return false
        })
        var payload = produce.bytes
        payload.moveReaderIndex(forwardBy: 4)  // the size prefix
        let facts = try #require(try KafkaCodec.inspectRequest(payload).facts, "Produce v13 must be read")
        #expect(!facts.records.isEmpty)
        #expect(facts.records.allSatisfy { $0.topic?.id != nil && $0.topic?.name == nil })
    }
}
