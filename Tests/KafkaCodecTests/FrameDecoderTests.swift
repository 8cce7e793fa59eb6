import KafkaCodec
import KafkaTestSupport
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@Suite struct FrameDecoderTests {
    @Test func dripFedFramesComeOutWhole() throws {
        let frames = try Array(Fixtures.frames("kafka-python").prefix(12))
        var stream = ByteBuffer()
        for frame in frames { stream.writeImmutableBuffer(frame.bytes) }
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(stream, frames.map(\.payload))],
            decoderFactory: { KafkaFrameDecoder() }
        )
    }

    @Test func framesLargerThanTheLimitAreRejected() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(KafkaFrameDecoder(maximumFrameLength: 1024)))
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(1025))
        #expect(throws: KafkaDecodingError.self) { try channel.writeInbound(buffer) }
        _ = try? channel.finish()
    }

    @Test func negativeSizesAreRejected() {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(-5))
        let error = #expect(throws: KafkaDecodingError.self) { try KafkaFrameDecoder().nextFrame(&buffer) }
        #expect(error?.code == .invalidFrameLength)
    }

    @Test func theEncoderPrefixesTheSize() throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(KafkaFrameEncoder()))
        try channel.writeOutbound(ByteBuffer(bytes: [1, 2, 3]))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: [0, 0, 0, 3, 1, 2, 3]))
        _ = try channel.finish()
    }

    @Test func theDefaultLimitIsTheBrokersSocketRequestMaxBytes() {
        #expect(KafkaFrameDecoder().maximumFrameLength == 104_857_600)
    }
}
