import KafkaCodec
import KafkaTestSupport
import NIOCore
import Testing

@Suite struct RecordBatchTests {
    @Test func crc32cMatchesTheCastagnoliCheckValue() {
        // The standard check value of CRC-32C over "123456789".
        #expect(CRC32.castagnoli.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32.ieee.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test func aCorruptedBatchFailsItsCRC() throws {
        let frame = try #require(try Fixtures.frames("kafka-python").first { frame in
            if case .request = frame.kind { return frame.apiKey == .produce }
            return false
        })
        guard case .message(let request) = try KafkaCodec.decodeRequest(frame.payload) else {
            Issue.record("produce request should decode")
            return
        }
        let records = try #require(Self.firstRecords(in: .structure(request.body)))
        #expect(try RecordBatchReader.read(records).entries.allSatisfy { entry in
            if case .batch(let batch) = entry { return batch.crcValid }
            return false
        })
        // The last byte of a records field is inside the last record of its last batch.
        var corrupted = records
        let last = corrupted.writerIndex - 1
        corrupted.setInteger(corrupted.getInteger(at: last, as: UInt8.self)! ^ 0xFF, at: last)
        guard case .batch(let batch) = try #require(try RecordBatchReader.read(corrupted).entries.last) else {
            Issue.record("expected a v2 batch")
            return
        }
        #expect(!batch.crcValid)
    }

    private static func firstRecords(in value: KafkaValue) -> ByteBuffer? {
        switch value {
        case .records(let records): return records
        case .array(let elements): return elements.lazy.compactMap(Self.firstRecords).first
        case .structure(let value): return value.values.lazy.compactMap { $0.flatMap(Self.firstRecords) }.first
        default: return nil
        }
    }

    @Test func legacyMessagesAreRead() throws {
        // A magic-1 message: offset 5, then size, CRC, magic, attributes (gzip), timestamp, null key, value "hi".
        var message = ByteBuffer()
        message.writeMultipleIntegers(Int8(1), Int8(1), Int64(1_700_000_000_000), Int32(-1), Int32(2))
        message.writeString("hi")
        let crc = message.withUnsafeReadableBytes { CRC32.ieee.checksum($0) }
        var set = ByteBuffer()
        set.writeMultipleIntegers(Int64(5), Int32(4 + message.readableBytes), crc)
        set.writeImmutableBuffer(message)
        let read = try RecordBatchReader.read(set)
        guard case .legacy(let header) = try #require(read.entries.first) else {
            Issue.record("expected a legacy message")
            return
        }
        #expect(header.offset == 5)
        #expect(header.magic == 1)
        #expect(header.compression == .gzip)
        #expect(header.timestamp == 1_700_000_000_000)
        #expect(header.crcValid)
        #expect(read.recordCount == 1)
    }

    @Test func aPartialTrailingBatchIsReportedNotThrown() throws {
        var records = ByteBuffer()
        records.writeMultipleIntegers(Int64(0), Int32(500))
        records.writeRepeatingByte(0, count: 20)
        let read = try RecordBatchReader.read(records)
        #expect(read.entries.isEmpty)
        #expect(read.partialTailBytes == 32)
    }
}
