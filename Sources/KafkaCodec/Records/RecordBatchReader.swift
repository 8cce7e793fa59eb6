public import NIOCore

/// Reads the batch headers of a `records` field without decompressing or copying the records.
public enum RecordBatchReader {
    static let logOverhead = RecordEntryHead.logOverhead
    static let batchHeaderLength = RecordEntryHead.batchHeaderLength

    public static func read(_ records: ByteBuffer) throws(KafkaDecodingError) -> RecordSet {
        var buffer = records
        let origin = records.readerIndex
        var entries: [RecordBatchEntry] = []
        while buffer.readableBytes > 0 {
            let start = buffer.readerIndex
            guard let (baseOffset, length) = buffer.getMultipleIntegers(at: start, as: (Int64, Int32).self),
                buffer.readableBytes >= Self.logOverhead + Int(length), length >= 0
            else {
                break  // a partial trailing batch, as fetch responses may carry
            }
            let batch = buffer.readSlice(length: Self.logOverhead + Int(length))!
            guard let magic = batch.getInteger(at: batch.readerIndex + 16, as: Int8.self) else {
                throw KafkaDecodingError(.invalidRecordBatch, field: "records", offset: start - origin, "batch of \(length) bytes has no magic byte")
            }
            switch magic {
            case 2:
                entries.append(.batch(try self.readBatch(batch, baseOffset: baseOffset, length: length, offset: start - origin)))
            case 0, 1:
                entries.append(.legacy(try self.readLegacy(batch, offset: baseOffset, size: length, magic: magic, at: start - origin)))
            default:
                throw KafkaDecodingError(.invalidRecordBatch, field: "records", offset: start - origin + 16, "unknown magic \(magic)")
            }
        }
        return RecordSet(entries: entries, partialTailBytes: buffer.readableBytes)
    }

    private static func readBatch(_ batch: ByteBuffer, baseOffset: Int64, length: Int32, offset: Int) throws(KafkaDecodingError) -> RecordBatchHeader {
        let base = batch.readerIndex
        guard batch.readableBytes >= Self.batchHeaderLength,
            let (epoch, _, crc, attributes, lastOffsetDelta) = batch.getMultipleIntegers(
                at: base + 12, as: (Int32, Int8, UInt32, Int16, Int32).self),
            let (firstTimestamp, maxTimestamp, producerID) = batch.getMultipleIntegers(
                at: base + 27, as: (Int64, Int64, Int64).self),
            let (producerEpoch, baseSequence, recordCount) = batch.getMultipleIntegers(
                at: base + 51, as: (Int16, Int32, Int32).self)
        else {
            throw KafkaDecodingError(.invalidRecordBatch, field: "records", offset: offset, "batch of \(length) bytes is shorter than its header")
        }
        let computed = batch.withUnsafeReadableBytes { bytes in
            CRC32.castagnoli.checksum(UnsafeRawBufferPointer(rebasing: bytes[21...]))
        }
        return RecordBatchHeader(
            baseOffset: baseOffset, batchLength: length, partitionLeaderEpoch: epoch, magic: 2, crc: crc,
            crcValid: computed == crc, attributes: attributes, lastOffsetDelta: lastOffsetDelta,
            firstTimestamp: firstTimestamp, maxTimestamp: maxTimestamp, producerID: producerID,
            producerEpoch: producerEpoch, baseSequence: baseSequence, recordCount: recordCount, bytes: batch)
    }

    private static func readLegacy(_ message: ByteBuffer, offset: Int64, size: Int32, magic: Int8, at position: Int) throws(KafkaDecodingError) -> LegacyMessageHeader {
        let base = message.readerIndex
        let headerLength = magic == 0 ? 18 : 26
        guard message.readableBytes >= headerLength,
            let (crc, _, attributes) = message.getMultipleIntegers(at: base + 12, as: (UInt32, Int8, Int8).self)
        else {
            throw KafkaDecodingError(.invalidRecordBatch, field: "records", offset: position, "message of \(size) bytes is shorter than its header")
        }
        let computed = message.withUnsafeReadableBytes { bytes in
            CRC32.ieee.checksum(UnsafeRawBufferPointer(rebasing: bytes[16...]))
        }
        return LegacyMessageHeader(
            offset: offset, messageSize: size, crc: crc, crcValid: computed == crc, magic: magic, attributes: attributes,
            timestamp: magic == 1 ? message.getInteger(at: base + 18, as: Int64.self) : nil, bytes: message)
    }
}
