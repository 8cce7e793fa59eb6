import KafkaTestSupport
import NIOCore
import Testing

@testable import KafkaCodec

/// Header values that cannot be true make their batch malformed: counted as invalid, its bytes counted, its
/// records not. Whole fields and fields streamed in parts are judged alike.
@Suite struct InvalidValueTests {
    /// A v2 batch with a valid CRC and these header values.
    private func batch(recordCount: Int32, lastOffsetDelta: Int32 = 0, firstTimestamp: Int64 = 1_764_000_000_000, magic: Int8 = 2) -> ByteBuffer {
        var covered = ByteBuffer()
        covered.writeInteger(Int16(0))
        covered.writeInteger(lastOffsetDelta)
        covered.writeInteger(firstTimestamp)
        covered.writeInteger(firstTimestamp)
        covered.writeInteger(Int64(-1))
        covered.writeInteger(Int16(-1))
        covered.writeInteger(Int32(-1))
        covered.writeInteger(recordCount)
        covered.writeBytes([0x10, 0x00, 0x00, 0x00, 0x02, 0x41, 0x00, 0x00])  // one small record
        let crc = covered.withUnsafeReadableBytes { CRC32.castagnoli.checksum($0) }
        var batch = ByteBuffer()
        batch.writeInteger(Int64(0))
        batch.writeInteger(Int32(9 + covered.readableBytes))
        batch.writeInteger(Int32(-1))
        batch.writeInteger(magic)
        batch.writeInteger(crc)
        batch.writeBuffer(&covered)
        return batch
    }

    @Test(arguments: [
        (Int32(-5), Int32(0), Int64(0), InvalidValue.recordCount),
        (Int32.min, 0, 0, .recordCount),
        (3, 1, 0, .recordCount),  // three records in a span of two offsets
        (1, -1, 0, .lastOffsetDelta),
        (1, 0, -2, .batchTimestamp),
        (1, 0, .min, .batchTimestamp),
    ])
    func impossibleHeaderValuesMakeTheBatchMalformed(count: Int32, delta: Int32, timestamp: Int64, value: InvalidValue) {
        var field = self.batch(recordCount: 2, lastOffsetDelta: 1)
        var hostile = self.batch(recordCount: count, lastOffsetDelta: delta, firstTimestamp: timestamp == 0 ? 1_764_000_000_000 : timestamp)
        let hostileBytes = hostile.readableBytes
        field.writeBuffer(&hostile)
        let tally = RecordBatchReader.tally(field)
        #expect(tally.records == 2, "only the plausible batch's records count")
        #expect(tally.bytes == field.readableBytes)
        #expect(tally.invalid[value] == 1 && tally.invalid.total == 1)
        #expect(hostileBytes > 0)
        #expect(self.streamed(field, pieces: 7) == tally, "streamed in parts, the same judgement")
    }

    @Test func aLengthShorterThanItsHeaderStopsCounting() {
        var short = self.batch(recordCount: 1)
        short.setInteger(Int32(30), at: 8)
        var negative = self.batch(recordCount: 1)
        negative.setInteger(Int32(-1), at: 8)
        for tail in [short, negative] {
            var whole = self.batch(recordCount: 1)
            var tail = tail
            whole.writeBuffer(&tail)
            let tally = RecordBatchReader.tally(whole)
            #expect(tally.records == 1)
            #expect(tally.invalid[.batchLength] == 1)
            #expect(self.streamed(whole, pieces: 5) == tally)
        }
    }

    @Test func anUnknownMagicIsMalformedAndTheNextBatchStillCounts() {
        var field = self.batch(recordCount: 1, magic: 3)
        var next = self.batch(recordCount: 1)
        field.writeBuffer(&next)
        let tally = RecordBatchReader.tally(field)
        #expect(tally.records == 1)
        #expect(tally.invalid[.magic] == 1)
    }

    @Test func aCutTailIsNotInvalid() {
        var field = self.batch(recordCount: 1)
        var cut = self.batch(recordCount: 1)
        field.writeBuffer(&cut)
        field.moveWriterIndex(to: field.writerIndex - 5)
        let tally = RecordBatchReader.tally(field)
        #expect(tally.records == 1 && tally.invalid.isEmpty)
        #expect(self.streamed(field, pieces: 3) == tally)
    }

    /// Generated hostile fields: the whole-field and streamed judgements agree on every one, and no count is
    /// negative.
    @Test func wholeAndStreamedFieldsAgreeOnGeneratedHostileRecords() {
        var random = SeededRandom(seed: 13)
        var invalid = 0
        for _ in 0..<2_000 {
            let field = HostileRecords.field(using: &random)
            let tally = RecordBatchReader.tally(field)
            #expect(tally.records >= 0 && tally.bytes >= 0 && tally.bytes <= field.readableBytes)
            #expect(self.streamed(field, pieces: Int.random(in: 1...9, using: &random)) == tally)
            invalid += tally.invalid.total
        }
        #expect(invalid > 500, "the generator makes invalid values often")
    }

    @Test func aNegativeThrottleTimeIsInvalidNotAFact() {
        var facts = MessageFacts()
        facts.noteThrottle(milliseconds: -1)
        #expect(facts.throttleMilliseconds == nil)
        #expect(facts.invalidValues[.throttleTime] == 1)
        facts.noteThrottle(milliseconds: 20)
        #expect(facts.throttleMilliseconds == 20)
    }

    private func streamed(_ field: ByteBuffer, pieces: Int) -> RecordTally {
        var scanner = RecordTallyScanner()
        let bytes = Array(field.readableBytesView)
        let step = max(1, bytes.count / pieces)
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + step)
            bytes[index..<end].withUnsafeBytes { scanner.feed($0) }
            index = end
        }
        return scanner.tally
    }
}
