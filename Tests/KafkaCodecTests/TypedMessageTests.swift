import KafkaCodec
import KafkaTestSupport
import NIOCore
import Testing

/// The generated typed messages read and write exactly the bytes the schema-table codec does.
@Suite struct TypedMessageTests {
    typealias Codec = (schema: MessageSchema, reencode: @Sendable (ByteBuffer, Int16) throws -> ByteBuffer)

    static func codec<Message>(
        _ schema: MessageSchema,
        _ decode: @escaping @Sendable (ByteBuffer, Int16) throws(KafkaDecodingError) -> Message,
        _ encode: @escaping @Sendable (Message, inout ByteBuffer, Int16) throws(KafkaEncodingError) -> Void
    ) -> Codec {
        (schema, { bytes, version in
            let message = try decode(bytes, version)
            var out = ByteBuffer()
            try encode(message, &out, version)
            return out
        })
    }

    static let codecs: [String: Codec] = [
        "Metadata": Self.codec(.metadataResponse, { b, v throws(KafkaDecodingError) in try MetadataResponse(decoding: b, version: v) }, { m, o, v throws(KafkaEncodingError) in try m.encode(into: &o, version: v) }),
        "FindCoordinator": Self.codec(.findCoordinatorResponse, { b, v throws(KafkaDecodingError) in try FindCoordinatorResponse(decoding: b, version: v) }, { m, o, v throws(KafkaEncodingError) in try m.encode(into: &o, version: v) }),
        "DescribeCluster": Self.codec(.describeClusterResponse, { b, v throws(KafkaDecodingError) in try DescribeClusterResponse(decoding: b, version: v) }, { m, o, v throws(KafkaEncodingError) in try m.encode(into: &o, version: v) }),
        "ApiVersions": Self.codec(.apiVersionsResponse, { b, v throws(KafkaDecodingError) in try ApiVersionsResponse(decoding: b, version: v) }, { m, o, v throws(KafkaEncodingError) in try m.encode(into: &o, version: v) }),
    ]

    @Test(arguments: ["Metadata", "FindCoordinator", "DescribeCluster", "ApiVersions"])
    func typedMessagesRoundTripWhatTheTablesEncode(api: String) throws {
        let codec = try #require(Self.codecs[api])
        let versions = codec.schema.validVersions
        for version in versions.lowest...versions.highest {
            for sample in 0..<40 {
                var generator = SchemaValueGenerator(
                    seed: UInt64(version) << 16 | UInt64(sample), version: version, flexible: codec.schema.isFlexible(version))
                var bytes = ByteBuffer()
                try KafkaCodec.encode(generator.makeStruct(codec.schema.body), as: codec.schema, version: version, into: &bytes)
                #expect(try codec.reencode(bytes, version) == bytes, "\(api) v\(version) sample \(sample)")
            }
        }
    }

    @Test func recordedResponsesRoundTripThroughTheTypedMessages() throws {
        var checked = 0
        for frame in try Fixtures.all {
            guard case .response(let key, let version) = frame.kind, let codec = Self.codecs[key.name],
                let api = APIDescriptor.lookup(key)
            else { continue }
            // Skip the response header: 4 bytes of correlation id, plus a tagged-field byte in header v1.
            let headerLength = api.responseHeaderVersion(version) == 1 ? 5 : 4
            let body = frame.payload.getSlice(at: headerLength, length: frame.payload.readableBytes - headerLength)!
            #expect(try codec.reencode(body, version) == body, "\(frame)")
            checked += 1
        }
        #expect(checked > 20)
    }

    @Test func typedFieldsFollowTheSwiftNamingGuidelines() throws {
        var broker = MetadataResponse.MetadataResponseBroker()
        broker.nodeID = 111
        broker.host = "127.0.0.1"
        var response = MetadataResponse()
        response.brokers = [broker]
        response.clusterID = "c"
        var bytes = ByteBuffer()
        try response.encode(into: &bytes, version: 12)
        let decoded = try MetadataResponse(decoding: bytes, version: 12)
        #expect(decoded == response)
        #expect(decoded.brokers.first?.nodeID == 111)
    }
}
