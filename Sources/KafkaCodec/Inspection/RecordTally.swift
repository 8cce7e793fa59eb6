public import NIOCore

/// Records and bytes in a `records` field, from batch headers alone: no CRC check, no decompression.
///
/// Both counts are never negative: every header value they rest on was judged by `RecordEntryHead`, and an entry
/// whose values cannot be true adds its bytes but no records, and is counted in `invalid` instead.
public struct RecordTally: Hashable, Sendable {
    public var records: Int
    public var bytes: Int
    public var invalid = InvalidValues()

    public init(records: Int, bytes: Int) {
        self.records = records
        self.bytes = bytes
    }

    mutating func add(_ entry: RecordEntryHead.Judgement) {
        switch entry {
        case .entry(let bytes, let records):
            self.records += records
            self.bytes += bytes
        case .malformed(let bytes, let value):
            self.bytes += bytes
            self.invalid.note(value)
        case .unreadable(let value):
            self.invalid.note(value)
        }
    }
}

extension RecordBatchReader {
    /// Counts what `read` would find, cheaply enough for every Produce and Fetch on the proxy's path. A trailing
    /// partial batch (fetch responses may end inside one) is not counted.
    public static func tally(_ records: ByteBuffer) -> RecordTally {
        var tally = RecordTally(records: 0, bytes: 0)
        records.withUnsafeReadableBytes { bytes in
            var position = 0
            while true {
                let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
                let needed = RecordEntryHead.bytesNeeded(rest)
                guard rest.count >= needed else { return }
                let judgement = RecordEntryHead.judge(rest)
                switch judgement {
                case .entry(let size, _), .malformed(let size, _):
                    guard size <= rest.count else { return }  // the partial tail
                    position += size
                case .unreadable:
                    tally.add(judgement)
                    return  // the length cannot be trusted, so nothing after it can be found
                }
                tally.add(judgement)
            }
        }
        return tally
    }
}
