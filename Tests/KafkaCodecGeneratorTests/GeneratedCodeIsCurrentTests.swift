import Foundation
import KafkaCodecGeneratorKit
import Testing

/// The committed `Sources/KafkaCodec/Generated` must be exactly what the generator makes from the schemas.
///
/// The schemas live outside the repository (`../shared/kafka-message-schemas-2026-08` and the October 2024
/// `../shared/kafka-message-schemas`, or `KAFKA_SCHEMA_DIRS`), so the check runs wherever they exist and says so
/// where they do not.
@Suite struct GeneratedCodeIsCurrentTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var snapshots: [URL]? {
        let shared = Self.repository.deletingLastPathComponent().appendingPathComponent("shared")
        let candidates = ProcessInfo.processInfo.environment["KAFKA_SCHEMA_DIRS"]
            .map { $0.split(separator: " ").map { URL(fileURLWithPath: String($0)) } }
            ?? [shared.appendingPathComponent("kafka-message-schemas-2026-08"), shared.appendingPathComponent("kafka-message-schemas")]
        return candidates.allSatisfy { FileManager.default.fileExists(atPath: $0.path) } ? candidates : nil
    }

    @Test(.enabled(if: Self.snapshots != nil, "the Kafka schema directories are not present"))
    func committedGeneratedCodeMatchesAFreshGeneration() throws {
        let fresh = try CodecGenerator.render(snapshots: try #require(Self.snapshots))
        let generated = Self.repository.appendingPathComponent("Sources/KafkaCodec/Generated")
        let committed = try FileManager.default.contentsOfDirectory(atPath: generated.path).filter { $0.hasSuffix(".swift") }
        #expect(Set(committed) == Set(fresh.keys), "files added or removed; run the generator")
        for (name, contents) in fresh {
            let onDisk = try? String(contentsOf: generated.appendingPathComponent(name), encoding: .utf8)
            #expect(onDisk == contents, "\(name) differs from a fresh generation; run the generator")
        }
        #expect(fresh.count == 208, "203 schema tables, 4 typed messages and the API registry")
    }

    @Test func unreadableSchemasGiveAClearError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kafkascope-gen-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data(#"{"type": "request", "name": "X", "validVersions": "0-x", "flexibleVersions": "none", "fields": []}"#.utf8)
            .write(to: directory.appendingPathComponent("X.json"))
        let error = #expect(throws: (any Error).self) { try CodecGenerator.render(snapshots: [directory]) }
        #expect("\(error!)".contains("0-x"))
    }
}
