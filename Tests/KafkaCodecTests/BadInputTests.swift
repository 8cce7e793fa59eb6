import KafkaCodec
import KafkaTestSupport
import NIOCore
import Testing

/// Truncated and corrupted frames give a typed error or an opaque frame: never a crash, a hang or a wrong
/// success that re-encodes to other bytes.
@Suite struct BadInputTests {
    @Test(arguments: Fixtures.names)
    func everyTruncationOfEveryFrameFailsCleanly(fixture: String) throws {
        for frame in try Fixtures.frames(fixture) {
            let payload = frame.payload
            // Stride through large frames so that the test stays quick; every short frame is cut at every byte.
            let step = max(1, payload.readableBytes / 256)
            for length in stride(from: 0, to: payload.readableBytes, by: step) {
                let cut = payload.getSlice(at: payload.readerIndex, length: length)!
                #expect(throws: KafkaDecodingError.self, "\(frame) cut at \(length)") {
                    try self.decode(cut, like: frame)
                }
            }
        }
    }

    @Test(arguments: Fixtures.names)
    func flippedBytesNeverCrash(fixture: String) throws {
        var random = SeededRandom(seed: 0x5EED)
        for frame in try Fixtures.frames(fixture) {
            for _ in 0..<20 {
                var corrupted = frame.payload
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    let index = Int.random(in: 0..<corrupted.readableBytes, using: &random)
                    corrupted.setInteger(UInt8.random(in: 0...255, using: &random), at: index)
                }
                // Either outcome is fine; what matters is that decoding returns.
                _ = try? self.decode(corrupted, like: frame)
            }
        }
    }

    @Test func errorsNameTheAPIVersionFieldAndOffset() throws {
        let frame = try #require(try Fixtures.frames("kafka-python").first { $0.apiKey == .metadata })
        // Cut the frame inside its body and fix the size prefix, so the body itself is short.
        var bytes = frame.bytes.getSlice(at: 0, length: frame.bytes.readableBytes - 3)!
        bytes.setInteger(Int32(bytes.readableBytes - 4), at: 0)
        let error = try #require(throws: KafkaDecodingError.self) { try KafkaCodec.decodeRequest(prefixedFrame: bytes) }
        #expect(error.code == .truncated)
        #expect(error.api == .metadata)
        #expect(error.version == 12)
        #expect(!error.field.isEmpty)
        #expect(error.offset > 8 && error.offset <= bytes.readableBytes)
        #expect("\(error)".contains("api Metadata, version 12, field "))
    }

    @Test func unknownKeysAndVersionsAreOpaqueNotErrors() throws {
        var unknownKey = ByteBuffer()
        unknownKey.writeMultipleIntegers(Int16(9999), Int16(0), Int32(7))
        unknownKey.writeString("anything at all")
        guard case .opaque(let opaque) = try KafkaCodec.decodeRequest(unknownKey) else {
            Issue.record("an unknown key must be opaque")
            return
        }
        #expect(opaque.reason == .unknownAPIKey)
        #expect(opaque.correlationID == 7)
        #expect(opaque.bytes == unknownKey)

        var futureVersion = ByteBuffer()
        futureVersion.writeMultipleIntegers(APIKey.metadata.rawValue, Int16(99), Int32(8))
        guard case .opaque(let future) = try KafkaCodec.decodeRequest(futureVersion) else {
            Issue.record("a version beyond the schemas must be opaque")
            return
        }
        #expect(future.reason == .unsupportedVersion(supported: .range(0, 13)))

        var response = ByteBuffer()
        response.writeInteger(Int32(8))
        guard case .opaque = try KafkaCodec.decodeResponse(response, apiKey: .metadata, apiVersion: 99) else {
            Issue.record("a response at a version beyond the schemas must be opaque")
            return
        }
    }

    @Test func hostileCountsAreRejectedBeforeAllocating() throws {
        // Metadata v4 request: topics array claiming two billion entries in a 4-byte body.
        var frame = ByteBuffer()
        frame.writeMultipleIntegers(APIKey.metadata.rawValue, Int16(4), Int32(1), Int16(-1))
        frame.writeInteger(Int32.max)
        let error = try #require(throws: KafkaDecodingError.self) { try KafkaCodec.decodeRequest(frame) }
        #expect(error.code == .invalidLength)
        #expect(error.field == "topics")
    }

    private func decode(_ payload: ByteBuffer, like frame: Fixtures.Frame) throws {
        switch frame.kind {
        case .request: _ = try KafkaCodec.decodeRequest(payload)
        case .response(let key, let version): _ = try KafkaCodec.decodeResponse(payload, apiKey: key, apiVersion: version)
        }
    }
}
