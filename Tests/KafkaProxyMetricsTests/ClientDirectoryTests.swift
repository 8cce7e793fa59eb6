import Foundation
import KafkaCodec
import KafkaTestSupport
import NIOCore
import Testing

@testable import KafkaProxyMetrics

/// The Kafka 4.0 readiness view: who sent which API versions, and which of those Kafka 4.0 removed.
@Suite struct ClientDirectoryTests {
    /// A request payload (no size prefix) of `key` at `version` from `clientID`, with a generated body.
    private func request(
        _ key: APIKey, _ version: Int16, clientID: String, correlationID: Int32, software: (String, String)? = nil
    ) throws -> (ByteBuffer, RequestHeaderPrefix) {
        let api = try #require(APIDescriptor.lookup(key))
        let headerVersion = api.requestHeaderVersion(version)
        var generator = SchemaValueGenerator(seed: UInt64(correlationID), version: headerVersion, flexible: false)
        var header = generator.makeStruct(MessageSchema.requestHeader.body)
        header.setValue(.int16(key.rawValue), for: "requestApiKey", in: MessageSchema.requestHeader.body)
        header.setValue(.int16(version), for: "requestApiVersion", in: MessageSchema.requestHeader.body)
        header.setValue(.int32(correlationID), for: "correlationId", in: MessageSchema.requestHeader.body)
        header.setValue(.string(clientID), for: "clientId", in: MessageSchema.requestHeader.body)
        var bodyGenerator = SchemaValueGenerator(seed: 7, version: version, flexible: api.request.isFlexible(version))
        var body = bodyGenerator.makeStruct(api.request.body)
        if let (name, softwareVersion) = software {
            body.setValue(.string(name), for: "clientSoftwareName", in: api.request.body)
            body.setValue(.string(softwareVersion), for: "clientSoftwareVersion", in: api.request.body)
        }
        var payload = ByteBuffer()
        try KafkaCodec.encode(
            KafkaRequest(apiKey: key, apiVersion: version, headerVersion: headerVersion, header: header, body: body), into: &payload)
        return (payload, RequestHeaderPrefix(apiKey: key, apiVersion: version, correlationID: correlationID))
    }

    private func send(
        _ recorder: ExchangeRecorder, _ key: APIKey, _ version: Int16, clientID: String, correlationID: Int32,
        software: (String, String)? = nil, at microseconds: Int64
    ) throws {
        let (payload, header) = try self.request(key, version, clientID: clientID, correlationID: correlationID, software: software)
        recorder.requestRead(payload, header: header, frameBytes: payload.readableBytes + 4, expectsResponse: true, at: microseconds)
    }

    @Test func removedVersionsAreListedPerClientAndCounted() throws {
        let metrics = KafkascopeMetrics()
        let old = metrics.recorder(broker: "bootstrap", client: "10.0.0.1:40000")
        try self.send(old, .metadata, 1, clientID: "legacy-app", correlationID: 1, at: 1_000_000)
        try self.send(old, .produce, 2, clientID: "legacy-app", correlationID: 2, at: 2_000_000)
        try self.send(old, .produce, 2, clientID: "legacy-app", correlationID: 3, at: 3_000_000)
        try self.send(old, .fetch, 3, clientID: "legacy-app", correlationID: 4, at: 4_000_000)
        let current = metrics.recorder(broker: "bootstrap", client: "10.0.0.2:40001")
        try self.send(current, .apiVersions, 4, clientID: "modern-app", correlationID: 1, software: ("librdkafka", "2.12.0"), at: 5_000_000)
        try self.send(current, .produce, 13, clientID: "modern-app", correlationID: 2, at: 6_000_000)
        try self.send(current, .fetch, 18, clientID: "modern-app", correlationID: 3, at: 7_000_000)
        current.authenticated(as: "User:alice")
        try self.send(current, .metadata, 13, clientID: "modern-app", correlationID: 4, at: 8_000_000)

        let exposition = Exposition(metrics.exposition())
        let removed = "kafkascope_removed_version_requests_total"
        #expect(exposition.sum(removed, ["api": "Produce", "version": "2", "client_id": "legacy-app"]) == 2)
        #expect(exposition.sum(removed, ["api": "Fetch", "version": "3", "client_id": "legacy-app"]) == 1)
        #expect(exposition.sum(removed, ["api": "Metadata"]) == 0, "Kafka 4.0 still accepts Metadata v1")
        #expect(exposition.sum(removed, ["client_id": "modern-app"]) == 0)

        let document = try JSONSerialization.jsonObject(with: Data(metrics.clientDirectory.json().utf8)) as! [String: Any]
        let clients = document["clients"] as! [[String: Any]]
        #expect(clients.map { $0["client_id"] as! String } == ["legacy-app", "modern-app"])
        let legacy = clients[0]
        #expect(legacy["software_name"] is NSNull)
        #expect(legacy["addresses"] as! [String] == ["10.0.0.1:40000"])
        #expect(legacy["first_seen"] as! String == "1970-01-01T00:00:01.000000Z")
        #expect(legacy["last_seen"] as! String == "1970-01-01T00:00:04.000000Z")
        let legacyRemoved = (legacy["removed_in_4_0"] as! [[String: Any]]).map { "\($0["api"]!) v\($0["version"]!) ×\($0["requests"]!)" }
        #expect(legacyRemoved == ["Produce v2 ×2", "Fetch v3 ×1"])
        let apis = (legacy["apis"] as! [[String: Any]]).map { $0["api"] as! String }
        #expect(apis == ["Produce", "Fetch", "Metadata"])
        let modern = clients[1]
        #expect(modern["software_name"] as? String == "librdkafka")
        #expect(modern["software_version"] as? String == "2.12.0")
        #expect(modern["principal"] as? String == "User:alice")
        #expect((modern["removed_in_4_0"] as! [Any]).isEmpty, "a client on current versions is ready")
    }

    @Test func clientIDsBeyondTheCapShareOtherAndNothingIsDropped() throws {
        let metrics = KafkascopeMetrics(labelCap: 2)
        let recorder = metrics.recorder(broker: "bootstrap", client: nil)
        for (index, id) in ["a", "b", "c", "d", "a"].enumerated() {
            try self.send(recorder, .produce, 1, clientID: id, correlationID: Int32(index), at: 0)
        }
        let clients = metrics.clientDirectory.clients
        #expect(clients.map(\.clientID) == ["__other__", "a", "b"])
        #expect(clients.map { $0.record.requests.values.reduce(0, +) } == [2, 2, 1])
        let exposition = Exposition(metrics.exposition())
        #expect(exposition.sum("kafkascope_removed_version_requests_total", ["client_id": "__other__"]) == 2)
    }

    /// A hostile client in CI chose an id with \u{1C}, which Python's splitlines() took for a line break.
    @Test func controlCharactersInAClientIdNeverReachALabel() throws {
        let metrics = KafkascopeMetrics()
        let recorder = metrics.recorder(broker: "bootstrap", client: nil)
        try self.send(recorder, .produce, 2, clientID: "app\u{1C}\n\u{1B}[31m\u{85}\u{2028}é", correlationID: 1, at: 0)
        let shown = "app\u{FFFD}\u{FFFD}\u{FFFD}[31m\u{FFFD}\u{FFFD}é"
        #expect(metrics.clientDirectory.clients.map(\.clientID) == [shown])
        let exposition = String(decoding: metrics.exposition(), as: UTF8.self)
        let badScalars: Set<UInt32> = [0x1B, 0x1C, 0x85]
        #expect(exposition.split(separator: "\n").contains { $0.contains("client_id=\"\(shown)\"") })
        #expect(!exposition.unicodeScalars.contains { badScalars.contains($0.value) })
    }

    @Test func wireTextKeepsPrintableTextAndReplacesControlCharacters() {
        #expect(WireText.printable("SCRAM-SHA-512 é 𝄞") == "SCRAM-SHA-512 é 𝄞")
        #expect(WireText.printable("a\u{1B}[2Jb\u{2028}\u{0}") == "a\u{FFFD}[2Jb\u{FFFD}\u{FFFD}")
    }

    @Test func theClientIdIsReadFromAStreamedFramesHead() throws {
        let (payload, _) = try self.request(.produce, 9, clientID: "streamed-client", correlationID: 9)
        let head = payload.getSlice(at: payload.readerIndex, length: 40)!
        let range = try #require(KafkaCodec.peekClientID(head))
        #expect(head.getString(at: head.readerIndex + range.lowerBound, length: range.count) == "streamed-client")
        #expect(KafkaCodec.peekClientID(payload.getSlice(at: payload.readerIndex, length: 20)!) == nil, "cut short")
        var nullID = ByteBuffer()
        nullID.writeMultipleIntegers(APIKey.metadata.rawValue, Int16(1), Int32(1), Int16(-1))
        #expect(KafkaCodec.peekClientID(nullID) == nil)
    }
}
