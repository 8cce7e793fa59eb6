import NIOCore
import Testing

@testable import KafkaPCAP

@Suite struct KafkaFramerTests {
    private static func frame(_ payload: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt32(payload.count).bigEndian) { Array($0) } + payload
    }

    @Test func framesSpanningPacketsNameThePacketThatEndsThem() {
        var framer = KafkaFramer(maximumFrameLength: 1 << 20, startsAtFrameBoundary: true)
        let bytes = Self.frame(Array(repeating: 7, count: 10)) + Self.frame(Array(repeating: 8, count: 4))
        bytes[0..<6].withUnsafeBytes { framer.append($0, packet: 1) }
        #expect(framer.next(plausible: { _, _ in true }) == nil)
        bytes[6..<16].withUnsafeBytes { framer.append($0, packet: 2) }
        bytes[16...].withUnsafeBytes { framer.append($0, packet: 3) }
        let first = framer.next(plausible: { _, _ in true })
        #expect(first?.packet == 2)
        #expect(first?.size == 14)
        let second = framer.next(plausible: { _, _ in true })
        #expect(second?.packet == 3)
        #expect(second?.payload == ByteBuffer(bytes: [8, 8, 8, 8]))
        #expect(framer.next(plausible: { _, _ in true }) == nil)
    }

    @Test func afterAGapDecodingResumesAtAPlausibleFrame() {
        var framer = KafkaFramer(maximumFrameLength: 1 << 20, startsAtFrameBoundary: true)
        framer.gap()
        // The tail of a lost frame, then a frame whose payload starts with the marker byte 0xAB.
        let marked = Self.frame([0xAB] + Array(repeating: 1, count: 11))
        let bytes: [UInt8] = [0, 0, 0, 40, 9, 9, 9, 9, 9] + marked
        bytes.withUnsafeBytes { framer.append($0, packet: 5) }
        let frame = framer.next(plausible: { payload, _ in payload.getInteger(at: payload.readerIndex, as: UInt8.self).map { $0 == 0xAB } })
        #expect(frame?.payload.readableBytes == 12)
        #expect(framer.resynchronizations == 1)
        #expect(!framer.resynchronizing)
    }

    @Test func anImpossibleLengthStartsAResync() {
        var framer = KafkaFramer(maximumFrameLength: 100, startsAtFrameBoundary: true)
        let bytes: [UInt8] = [0x7F, 0, 0, 0] + Self.frame(Array(repeating: 2, count: 12))
        bytes.withUnsafeBytes { framer.append($0, packet: 1) }
        let frame = framer.next(plausible: { _, _ in true })
        #expect(frame?.payload == ByteBuffer(bytes: Array(repeating: 2, count: 12)))
    }
}

extension KafkaFramer.Frame: Equatable {
    static func == (lhs: KafkaFramer.Frame, rhs: KafkaFramer.Frame) -> Bool {
        lhs.payload == rhs.payload && lhs.packet == rhs.packet
    }
}
