public import NIOCore

/// The compression codec in the low three attribute bits of a batch or legacy message.
public enum RecordCompression: Int8, Hashable, Sendable, CaseIterable {
    case none = 0
    case gzip = 1
    case snappy = 2
    case lz4 = 3
    case zstd = 4

    public var name: String { String(describing: self) }
}

/// The header of one record batch (magic 2), read without decompressing its records.
public struct RecordBatchHeader: Hashable, Sendable {
    public var baseOffset: Int64
    public var batchLength: Int32
    public var partitionLeaderEpoch: Int32
    public var magic: Int8
    public var crc: UInt32
    /// Whether `crc` matches the CRC-32C of the batch from the attributes on.
    public var crcValid: Bool
    public var attributes: Int16
    public var lastOffsetDelta: Int32
    public var firstTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerID: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var recordCount: Int32
    /// The whole batch, as a slice of the frame.
    public var bytes: ByteBuffer

    /// Codec bits 0-2; an unknown codec reads as nil.
    public var compression: RecordCompression? { RecordCompression(rawValue: Int8(self.attributes & 0x07)) }
    /// Bit 3: 0 create time, 1 log-append time.
    public var timestampType: TimestampType { self.attributes & 0x08 == 0 ? .createTime : .logAppendTime }
    public var isTransactional: Bool { self.attributes & 0x10 != 0 }
    public var isControl: Bool { self.attributes & 0x20 != 0 }
}

public enum TimestampType: String, Hashable, Sendable {
    case createTime = "CreateTime"
    case logAppendTime = "LogAppendTime"
}

/// The header of one legacy message (magic 0 or 1) in a message set.
public struct LegacyMessageHeader: Hashable, Sendable {
    public var offset: Int64
    public var messageSize: Int32
    public var crc: UInt32
    /// Whether `crc` matches the CRC-32 (IEEE) of the message from the magic byte on.
    public var crcValid: Bool
    public var magic: Int8
    public var attributes: Int8
    /// Present from magic 1.
    public var timestamp: Int64?
    public var bytes: ByteBuffer

    public var compression: RecordCompression? { RecordCompression(rawValue: self.attributes & 0x07) }
}

/// One entry of a `records` field.
public enum RecordBatchEntry: Hashable, Sendable {
    case batch(RecordBatchHeader)
    case legacy(LegacyMessageHeader)
}

/// The batch headers found in a `records` field.
public struct RecordSet: Hashable, Sendable {
    public var entries: [RecordBatchEntry]
    /// Bytes after the last whole batch; a broker may cut a fetch response inside a batch.
    public var partialTailBytes: Int

    /// Records in all magic-2 batches plus one per legacy message (nested compressed sets are not opened).
    public var recordCount: Int {
        self.entries.reduce(0) { total, entry in
            switch entry {
            case .batch(let header): total + Int(header.recordCount)
            case .legacy: total + 1
            }
        }
    }
}
