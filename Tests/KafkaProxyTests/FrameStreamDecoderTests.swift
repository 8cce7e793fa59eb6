import NIOCore
import Testing

@testable import KafkaProxy

@Suite struct FrameStreamDecoderTests {
    func frame(payloadBytes: Int, correlationID: Int32) -> ByteBuffer {
        var frame = ByteBuffer()
        frame.writeInteger(Int32(4 + payloadBytes))
        frame.writeInteger(correlationID)
        frame.writeBytes((0..<payloadBytes).map { UInt8(truncatingIfNeeded: $0) })
        return frame
    }

    /// Feeds `stream` in chunks and returns the parts, reassembled per frame.
    func decode(_ stream: ByteBuffer, chunk: Int, threshold: Int) throws -> (parts: [FramePart], frames: [ByteBuffer]) {
        var decoder = FrameStreamDecoder(maximumFrameLength: 1 << 20, streamingThreshold: threshold) { $0.readableBytes >= 8 }
        var pending = ByteBuffer()
        var parts: [FramePart] = []
        var frames: [ByteBuffer] = []
        var assembling: ByteBuffer?
        var input = stream
        while input.readableBytes > 0 {
            var piece = input.readSlice(length: min(chunk, input.readableBytes))!
            pending.writeBuffer(&piece)
            while let part = try decoder.decode(buffer: &pending) {
                parts.append(part)
                switch part {
                case .frame(let frame): frames.append(frame)
                case .head(let head, _): assembling = head
                case .continuation(let bytes, let last):
                    assembling!.writeImmutableBuffer(bytes)
                    if last {
                        frames.append(assembling!)
                        assembling = nil
                    }
                }
            }
        }
        return (parts, frames)
    }

    @Test func largeFramesStreamAndReassembleToTheSameBytes() throws {
        let frames = [self.frame(payloadBytes: 100, correlationID: 1), self.frame(payloadBytes: 200_000, correlationID: 2),
                      self.frame(payloadBytes: 10, correlationID: 3)]
        var stream = ByteBuffer()
        for frame in frames { stream.writeImmutableBuffer(frame) }
        let (parts, reassembled) = try self.decode(stream, chunk: 16 * 1024, threshold: 64 * 1024)
        #expect(reassembled == frames)
        #expect(parts.contains { if case .head = $0 { true } else { false } }, "the large frame is streamed")
        #expect(parts.count > 5)
    }

    @Test func smallFramesAndCompleteLargeOnesComeWhole() throws {
        let frames = [self.frame(payloadBytes: 200_000, correlationID: 1), self.frame(payloadBytes: 5, correlationID: 2)]
        var stream = ByteBuffer()
        for frame in frames { stream.writeImmutableBuffer(frame) }
        let (parts, reassembled) = try self.decode(stream, chunk: stream.readableBytes, threshold: 64 * 1024)
        #expect(reassembled == frames)
        #expect(parts.count == 2, "everything was already there: no need to stream")
    }

    @Test func oversizedFramesAreRejected() {
        var decoder = FrameStreamDecoder.responses(maximumFrameLength: 1024)
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(4096))
        buffer.writeInteger(Int32(1))
        #expect(throws: (any Error).self) { try decoder.decode(buffer: &buffer) }
    }
}

extension FrameStreamDecoderTests {
    @Test func aLargeProduceRequestStreamsOnlyOnceItsAcksHaveArrived() throws {
        // Produce v3 header and body start: key, version, correlation id, client id "c", null transactional id, acks.
        var frame = ByteBuffer()
        frame.writeInteger(Int32(0))
        frame.writeMultipleIntegers(Int16(0), Int16(3), Int32(9), Int16(1))
        frame.writeString("c")
        frame.writeMultipleIntegers(Int16(-1), Int16(1), Int32(30_000))
        frame.writeRepeatingByte(0, count: 100_000)
        frame.setInteger(Int32(frame.readableBytes - 4), at: 0)

        var decoder = FrameStreamDecoder.requests(maximumFrameLength: 1 << 20)
        var partial = frame.getSlice(at: 0, length: 18)!  // the acks are not here yet
        #expect(try decoder.decode(buffer: &partial) == nil)
        var more = frame.getSlice(at: 0, length: 30_000)!
        guard case .head(let head, let remaining)? = try decoder.decode(buffer: &more) else {
            Issue.record("with acks present, a large request streams")
            return
        }
        #expect(head.readableBytes == 30_000)
        #expect(remaining == frame.readableBytes - 30_000)
    }
}
