import KafkaCodec
import KafkaTestSupport
import NIOCore
import Testing

/// The proxy reads `acks` by skipping the header by hand; it must agree with full decoding at every version.
@Suite struct ProduceAcksPeekTests {
    @Test func peekedAcksEqualDecodedAcksAtEveryVersion() throws {
        let api = try #require(APIDescriptor.lookup(.produce))
        var checked = 0
        for version in api.validVersions.lowest...api.validVersions.highest {
            for sample in 0..<8 {
                let seed = UInt64(version) << 16 | UInt64(sample)
                let headerVersion = api.requestHeaderVersion(version)
                var headerGenerator = SchemaValueGenerator(seed: seed, version: headerVersion, flexible: headerVersion >= 2)
                var header = headerGenerator.makeStruct(MessageSchema.requestHeader.body)
                header.setValue(.int16(api.key.rawValue), for: "requestApiKey", in: MessageSchema.requestHeader.body)
                header.setValue(.int16(version), for: "requestApiVersion", in: MessageSchema.requestHeader.body)
                var bodyGenerator = SchemaValueGenerator(seed: seed, version: version, flexible: api.request.isFlexible(version))
                let body = bodyGenerator.makeStruct(api.request.body)
                var encoded = ByteBuffer()
                try KafkaCodec.encode(
                    KafkaRequest(apiKey: .produce, apiVersion: version, headerVersion: headerVersion, header: header, body: body),
                    into: &encoded)
                guard case .int16(let acks)? = body.value("acks", in: api.request.body) else {
                    Issue.record("Produce v\(version) has no acks")
                    continue
                }
                #expect(KafkaCodec.produceAcks(encoded) == acks, "Produce v\(version) seed \(seed)")
                checked += 1
            }
        }
        #expect(checked == 8 * Int(api.validVersions.highest - api.validVersions.lowest + 1))
    }

    @Test func recordedProducesAndOtherFrames() throws {
        for frame in try Fixtures.all {
            guard case .request = frame.kind, case .message(let request) = try KafkaCodec.decodeRequest(frame.payload) else { continue }
            let peeked = KafkaCodec.produceAcks(frame.payload)
            if request.apiKey == .produce {
                let schema = try #require(APIDescriptor.lookup(.produce)).request.body
                #expect(request.body.value("acks", in: schema) == peeked.map(KafkaValue.int16), "\(frame)")
            } else {
                #expect(peeked == nil, "\(frame)")
            }
        }
    }

    @Test func truncatedProduceGivesNil() throws {
        let frame = try #require(try Fixtures.all.first { frame in
            if case .request = frame.kind { return KafkaCodec.peekRequestHeader(frame.payload)?.apiKey == .produce }
            return false
        })
        let cut = frame.payload.getSlice(at: frame.payload.readerIndex, length: 12)!
        #expect(KafkaCodec.produceAcks(cut) == nil)
    }
}
