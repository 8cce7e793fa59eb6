/// Judges the start of one entry of a `records` field: a v2 record batch, or a legacy message.
///
/// The one place where the header values that counting rests on are checked, for whole fields
/// (`RecordBatchReader.tally`) and for fields that stream through in parts (`RecordTallyScanner`) alike.
enum RecordEntryHead {
    enum Judgement: Equatable {
        /// `bytes` in all (from the base offset on) holding `records` records; a v2 batch also gives its span.
        case entry(bytes: Int, records: Int, span: RecordSpan?)
        /// An entry of `bytes` whose other header values cannot be true: its records are not counted.
        case malformed(bytes: Int, InvalidValue)
        /// The entry's length cannot be true, so neither it nor anything after it can be delimited.
        case unreadable(InvalidValue)
    }

    /// Bytes in front of an entry's length: the base offset, then the length itself.
    static let logOverhead = 12
    /// Bytes of an entry up to and including its magic byte.
    static let magicEnd = 17
    /// Bytes of a v2 batch header from the base offset up to the first record.
    static let batchHeaderLength = 61

    /// Bytes of an entry's start that `judge` needs: up to the magic byte, then, for a v2 batch, its whole header.
    static func bytesNeeded(_ start: UnsafeRawBufferPointer) -> Int {
        start.count >= Self.magicEnd && start[16] == 2 ? Self.batchHeaderLength : Self.magicEnd
    }

    /// `start` holds at least `bytesNeeded(start)` bytes of an entry.
    static func judge(_ start: UnsafeRawBufferPointer) -> Judgement {
        let length = Int(Self.int32(start, at: 8))
        let total = Self.logOverhead + length
        switch start[16] {
        case 2:
            // The v2 header after the length: leader epoch, magic, CRC, attributes, then these, 49 bytes in all.
            guard total >= Self.batchHeaderLength else { return .unreadable(.batchLength) }
            let lastOffsetDelta = Self.int32(start, at: 23)
            let firstTimestamp = Self.int64(start, at: 27)
            let maxTimestamp = Self.int64(start, at: 35)
            let recordCount = Self.int32(start, at: 57)
            if lastOffsetDelta < 0 { return .malformed(bytes: total, .lastOffsetDelta) }
            // Offsets in a batch are distinct and within its span; compaction only removes records.
            if recordCount < 0 || Int64(recordCount) > Int64(lastOffsetDelta) + 1 {
                return .malformed(bytes: total, .recordCount)
            }
            if firstTimestamp < -1 || maxTimestamp < -1 { return .malformed(bytes: total, .batchTimestamp) }
            let baseOffset = Self.int64(start, at: 0)
            let (lastOffset, overflow) = baseOffset.addingReportingOverflow(Int64(lastOffsetDelta))
            // Attribute bit 3: the broker stamped the batch with its append time, held in the max timestamp.
            let logAppendTime = Self.int16(start, at: 21) & 0x08 != 0
            let span = baseOffset < 0 || overflow ? nil : RecordSpan(
                firstOffset: baseOffset, lastOffset: lastOffset,
                firstTimestamp: logAppendTime ? maxTimestamp : firstTimestamp, lastTimestamp: maxTimestamp)
            return .entry(bytes: total, records: Int(recordCount), span: span)
        case 0, 1:
            // CRC, magic, attributes, (timestamp,) then key and value lengths.
            let minimum = start[16] == 0 ? 14 : 22
            guard length >= minimum else { return .unreadable(.batchLength) }
            return .entry(bytes: total, records: 1, span: nil)  // a compressed wrapper's inner set is not opened
        default:
            return length >= 5 ? .malformed(bytes: total, .magic) : .unreadable(.batchLength)
        }
    }

    private static func int16(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int16 {
        Int16(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int16.self))
    }

    private static func int32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int32 {
        Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self))
    }

    private static func int64(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int64 {
        Int64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int64.self))
    }
}
