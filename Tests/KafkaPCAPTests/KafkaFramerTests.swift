import KafkaCodec
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

/// Large frames followed in parts (`KafkaFramer.followingThreshold`) rather than buffered whole.
@Suite struct FollowedFrameTests {
    private static func frame(_ payload: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt32(payload.count).bigEndian) { Array($0) } + payload
    }

    @Test func aLargeFrameIsFollowedOnceItsHeadIsInAndTheNextFrameIsBuffered() {
        var framer = KafkaFramer(maximumFrameLength: 1 << 20, startsAtFrameBoundary: true, followingThreshold: 16)
        let bytes = Self.frame(Array(repeating: 3, count: 10_000)) + Self.frame([8, 8, 8, 8])
        var heads: [Int] = []
        func next() -> KafkaFramer.Frame? {
            framer.next(plausible: { _, _ in true }, following: { head in
                heads.append(head.readableBytes)
                return .request
            })
        }
        bytes[0..<3000].withUnsafeBytes { framer.append($0, packet: 1) }
        #expect(next() == nil)
        #expect(heads.isEmpty, "the head is not all in yet")
        bytes[3000..<6000].withUnsafeBytes { framer.append($0, packet: 2) }
        #expect(next() == nil)
        #expect(heads == [KafkaFramer.defaultHeadLength])
        #expect(framer.startedFrameCorrelationID == 0x0303_0303)
        bytes[6000...].withUnsafeBytes { framer.append($0, packet: 3) }
        let large = next()
        #expect(large?.followed != nil)
        #expect(large?.size == 10_004)
        #expect(large?.packet == 3)
        #expect(large?.payload == ByteBuffer(bytes: Array(repeating: 3, count: KafkaFramer.defaultHeadLength)))
        let small = next()
        #expect(small?.followed == nil)
        #expect(small?.payload == ByteBuffer(bytes: [8, 8, 8, 8]))
        #expect(next() == nil)
    }

    @Test func aGapWhileFollowingDropsTheFrameAndResyncs() {
        var framer = KafkaFramer(maximumFrameLength: 1 << 20, startsAtFrameBoundary: true, followingThreshold: 16)
        Self.frame(Array(repeating: 3, count: 10_000))[0..<6000].withUnsafeBytes { framer.append($0, packet: 1) }
        #expect(framer.next(plausible: { _, _ in true }, following: { _ in .request }) == nil)
        framer.gap()
        #expect(framer.resynchronizing)
        #expect(framer.startedFrameCorrelationID == nil)
        let marked = Self.frame([0xAB] + Array(repeating: 1, count: 11))
        ([9, 9, 9] + marked).withUnsafeBytes { framer.append($0, packet: 2) }
        let frame = framer.next(plausible: { payload, _ in payload.getInteger(at: payload.readerIndex, as: UInt8.self).map { $0 == 0xAB } })
        #expect(frame?.payload.readableBytes == 12)
        #expect(frame?.followed == nil)
    }

    @Test func aFrameNobodyFollowsIsBufferedWhole() {
        var framer = KafkaFramer(maximumFrameLength: 1 << 20, startsAtFrameBoundary: true, followingThreshold: 16)
        let bytes = Self.frame(Array(repeating: 5, count: 10_000))
        bytes[0..<6000].withUnsafeBytes { framer.append($0, packet: 1) }
        #expect(framer.next(plausible: { _, _ in true }, following: { _ in nil }) == nil)
        bytes[6000...].withUnsafeBytes { framer.append($0, packet: 2) }
        let frame = framer.next(plausible: { _, _ in true }, following: { _ in nil })
        #expect(frame?.followed == nil)
        #expect(frame?.payload.readableBytes == 10_000)
    }
}
