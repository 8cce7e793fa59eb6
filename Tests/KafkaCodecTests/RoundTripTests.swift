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
        #expect(APIDescriptor.all.count == 88)
        #expect(Set(APIDescriptor.all.map(\.key)).count == 88)
        #expect(APIKey.metadata.name == "Metadata")
        #expect(APIKey(rawValue: 9999).name == "Unknown(9999)")
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
