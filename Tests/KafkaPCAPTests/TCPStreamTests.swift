import Testing

@testable import KafkaPCAP

@Suite struct TCPStreamTests {
    /// Feeds segments and collects what comes out: the bytes in order, and the gaps.
    private struct Collector {
        var stream = TCPStream()
        var bytes: [UInt8] = []
        var gaps: [Int] = []

        mutating func receive(_ sequence: UInt32, _ payload: [UInt8]) {
            var bytes = self.bytes
            var gaps = self.gaps
            payload.withUnsafeBytes { raw in
                self.stream.receive(
                    sequence: sequence, payload: raw, packet: 0, deliver: { chunk, _ in bytes += chunk }, gap: { gaps.append($0) })
            }
            self.bytes = bytes
            self.gaps = gaps
        }

        mutating func finish() {
            var bytes = self.bytes
            var gaps = self.gaps
            self.stream.finish(deliver: { chunk, _ in bytes += chunk }, gap: { gaps.append($0) })
            self.bytes = bytes
            self.gaps = gaps
        }
    }

    @Test func retransmissionsAndOverlapsAreDeliveredOnce() {
        var collector = Collector()
        collector.stream.synchronize(initialSequence: 999)
        collector.receive(1000, [1, 2, 3, 4])
        collector.receive(1000, [1, 2, 3, 4])  // retransmitted
        collector.receive(1002, [3, 4, 5, 6])  // overlaps the end
        #expect(collector.bytes == [1, 2, 3, 4, 5, 6])
        #expect(collector.gaps.isEmpty)
    }

    @Test func earlySegmentsWaitForTheMissingOne() {
        var collector = Collector()
        collector.stream.synchronize(initialSequence: 0)
        collector.receive(5, [5, 6])
        collector.receive(3, [3, 4])
        #expect(collector.bytes.isEmpty)
        collector.receive(1, [1, 2])
        #expect(collector.bytes == [1, 2, 3, 4, 5, 6])
    }

    @Test func sequenceNumbersWrapAround() {
        var collector = Collector()
        collector.stream.synchronize(initialSequence: UInt32.max - 2)
        collector.receive(UInt32.max - 1, [1, 2, 3])
        collector.receive(1, [4, 5])
        #expect(collector.bytes == [1, 2, 3, 4, 5])
    }

    @Test func aLostSegmentBecomesAGapAtTheEnd() {
        var collector = Collector()
        collector.stream.synchronize(initialSequence: 0)
        collector.receive(1, [1, 2])
        collector.receive(7, [7, 8])  // 3...6 never arrive
        collector.finish()
        #expect(collector.bytes == [1, 2, 7, 8])
        #expect(collector.gaps == [4])
    }

    @Test func aFullWindowGivesUpTheMissingBytes() {
        var collector = Collector()
        collector.stream.synchronize(initialSequence: 0)
        collector.receive(1, [0])
        for index in 0...TCPStream.windowSegments {
            collector.receive(UInt32(10 + index), [UInt8(truncatingIfNeeded: index)])
        }
        #expect(collector.gaps == [8])
        #expect(collector.bytes.count == 1 + TCPStream.windowSegments + 1)
        #expect(collector.stream.windowOverflows == 1)
    }
}
