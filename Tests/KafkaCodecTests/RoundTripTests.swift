import KafkaCodec
import KafkaTestSupport
import NIOCore
import Testing

/// `decode(encode(x)) == x` for generated values of every API, version and direction, and re-encoding is
/// byte-identical.
@Suite struct RoundTripTests {
    static let samplesPerVersion = 12

    @Test(arguments: APIDescriptor.all.map(\.key.rawValue))
    func everyVersionOfBothDirectionsRoundTrips(rawKey: Int16) throws {
        let api = try #require(APIDescriptor.lookup(APIKey(rawValue: rawKey)))
        for version in api.validVersions.lowest...api.validVersions.highest {
            for sample in 0..<Self.samplesPerVersion {
                let seed = UInt64(rawKey) << 32 | UInt64(version) << 16 | UInt64(sample)
                try self.checkRequest(api, version: version, seed: seed)
                try self.checkResponse(api, version: version, seed: seed)
            }
        }
    }

    private func checkRequest(_ api: APIDescriptor, version: Int16, seed: UInt64) throws {
        let headerVersion = api.requestHeaderVersion(version)
        var header = self.generate(.requestHeader, version: headerVersion, seed: seed)
        // The header's first fields must agree with the request they introduce.
        header.setValue(.int16(api.key.rawValue), for: "requestApiKey", in: MessageSchema.requestHeader.body)
        header.setValue(.int16(version), for: "requestApiVersion", in: MessageSchema.requestHeader.body)
        let request = KafkaRequest(
            apiKey: api.key, apiVersion: version, headerVersion: headerVersion, header: header,
            body: self.generate(api.request, version: version, seed: seed))
        var encoded = ByteBuffer()
        try KafkaCodec.encode(request, into: &encoded)
        let decoded = try KafkaCodec.decodeRequest(encoded)
        #expect(decoded == .message(request), "\(api.name) request v\(version) seed \(seed)")
        guard case .message(let message) = decoded else { return }
        var reencoded = ByteBuffer()
        try KafkaCodec.encode(message, into: &reencoded)
        #expect(reencoded == encoded, "\(api.name) request v\(version) seed \(seed) re-encodes differently")
    }

    private func checkResponse(_ api: APIDescriptor, version: Int16, seed: UInt64) throws {
        let headerVersion = api.responseHeaderVersion(version)
        let response = KafkaResponse(
            apiKey: api.key, apiVersion: version, headerVersion: headerVersion,
            header: self.generate(.responseHeader, version: headerVersion, seed: seed),
            body: self.generate(api.response, version: version, seed: seed &+ 1))
        var encoded = ByteBuffer()
        try KafkaCodec.encode(response, into: &encoded)
        let decoded = try KafkaCodec.decodeResponse(encoded, apiKey: api.key, apiVersion: version)
        #expect(decoded == .message(response), "\(api.name) response v\(version) seed \(seed)")
        guard case .message(let message) = decoded else { return }
        var reencoded = ByteBuffer()
        try KafkaCodec.encode(message, into: &reencoded)
        #expect(reencoded == encoded, "\(api.name) response v\(version) seed \(seed) re-encodes differently")
    }

    private func generate(_ schema: MessageSchema, version: Int16, seed: UInt64) -> KafkaStruct {
        var generator = SchemaValueGenerator(seed: seed, version: version, flexible: schema.isFlexible(version))
        return generator.makeStruct(schema.body)
    }

    @Test func everyAPIKeyOfTheSchemasIsRegistered() {
        #expect(APIDescriptor.all.count == 95)
        #expect(Set(APIDescriptor.all.map(\.key)).count == 95)
        #expect(APIKey.metadata.name == "Metadata")
        #expect(APIKey(rawValue: 74).name == "ListConfigResources", "key 74 takes its current name")
        #expect(APIKey(rawValue: 94).name == "UnregisterController")
        #expect(APIKey(rawValue: 9999).name == "Unknown(9999)")
    }

    /// Each version comes from the newest snapshot that lists it: the August 2026 schemas up to today's newest
    /// versions, the October 2024 ones for the versions Kafka 4.0 removed.
    @Test(arguments: [
        (APIKey.produce, VersionRange.range(0, 13), VersionRange.range(3, 13)),
        (.fetch, .range(0, 18), .range(4, 18)),
        (.metadata, .range(0, 13), .range(0, 13)),
        (.apiVersions, .range(0, 5), .range(0, 5)),
        (.offsetCommit, .range(0, 10), .range(2, 10)),
        (.leaderAndIsr, .range(0, 7), .empty),
        (.shareFetch, .range(0, 2), .range(1, 2)),
    ])
    func bothSnapshotsAreDecodedAndTheNewestSaysWhatIsCurrent(key: APIKey, decoded: VersionRange, current: VersionRange) throws {
        let api = try #require(APIDescriptor.lookup(key))
        #expect(api.validVersions == decoded)
        #expect(api.response.validVersions == decoded)
        #expect(api.currentVersions == current)
        for version in decoded.lowest...decoded.highest {
            #expect(api.isRemovedInKafka4(version) == (current.isEmpty || version < current.lowest))
        }
        #expect(!api.isRemovedInKafka4(decoded.highest + 1), "a version above the newest is unknown, not removed")
        #expect(!api.isRemovedInKafka4(-1), "nor is one below the oldest")
    }

    /// Fields that only removed versions had are still read at those versions, and only there.
    @Test func fieldsOfRemovedVersionsAreReadWhereTheyExisted() throws {
        let partition = try #require(MessageSchema.listOffsetsResponse.body.fields.first { $0.name == "topics" })
        guard case .array(.structure(let topic)) = partition.type,
            case .array(.structure(let partitionStruct))? = topic.fields.first(where: { $0.name == "partitions" })?.type
        else {
            Issue.record("ListOffsetsResponse topics/partitions are not arrays of structs")
            return
        }
        let oldStyle = try #require(partitionStruct.fields.first { $0.name == "oldStyleOffsets" })
        #expect(oldStyle.versions == .range(0, 0))
    }

    @Test func headerVersionsFollowTheFlexibleVersionsAndTheQuirks() throws {
        let apiVersions = try #require(APIDescriptor.lookup(.apiVersions))
        #expect(apiVersions.requestHeaderVersion(3) == 2)
        #expect(apiVersions.responseHeaderVersion(3) == 0, "KIP-511: ApiVersions answers with header v0")
        let metadata = try #require(APIDescriptor.lookup(.metadata))
        #expect(metadata.requestHeaderVersion(8) == 1)
        #expect(metadata.requestHeaderVersion(9) == 2)
        #expect(metadata.responseHeaderVersion(8) == 0)
        #expect(metadata.responseHeaderVersion(12) == 1)
        #expect(try #require(APIDescriptor.lookup(.controlledShutdown)).requestHeaderVersion(0) == 0)
    }
}
