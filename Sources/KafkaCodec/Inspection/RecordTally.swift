public import NIOCore

/// Records and bytes in a `records` field, from batch headers alone: no CRC check, no decompression.
///
/// Both counts are never negative: every header value they rest on was judged by `RecordEntryHead`, and an entry
/// whose values cannot be true adds its bytes but no records, and is counted in `invalid` instead.
public struct RecordTally: Hashable, Sendable {
    public var records: Int
    public var bytes: Int
    public var invalid = InvalidValues()
    /// The offsets and times of the counted v2 batches, first batch to last: what consumer lag in seconds reads.
    public var span: RecordSpan?

    public init(records: Int, bytes: Int) {
        self.records = records
        self.bytes = bytes
    }

    mutating func add(_ entry: RecordEntryHead.Judgement) {
        switch entry {
        case .entry(let bytes, let records, let span):
            self.records += records
            self.bytes += bytes
            if let span { self.span = self.span.map { $0.extended(to: span) } ?? span }
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
        records.withUnsafeReadableBytes { Self.tally($0) }
    }

    /// Counts the batches in `bytes`, as `tally(_:)` of a buffer does.
    static func tally(_ bytes: UnsafeRawBufferPointer) -> RecordTally {
        var tally = RecordTally(records: 0, bytes: 0)
        var position = 0
        while true {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
            let needed = RecordEntryHead.bytesNeeded(rest)
            guard rest.count >= needed else { return tally }
            let judgement = RecordEntryHead.judge(rest)
            switch judgement {
            case .entry(let size, _, _), .malformed(let size, _):
                guard size <= rest.count else { return tally }  // the partial tail
                position += size
            case .unreadable:
                tally.add(judgement)
                return tally  // the length cannot be trusted, so nothing after it can be found
            }
            tally.add(judgement)
        }
    }
}

/// The offsets a run of record batches covers, with the time of its first and last record.
///
/// Timestamps are the producer's clock (CreateTime), or the broker's append time for a batch it stamped
/// (LogAppendTime, which then stands for every record of the batch); -1 where a batch carries none.
public struct RecordSpan: Hashable, Sendable {
    /// The first batch's base offset: in a Produce request the producer's own count from 0, in a Fetch response
    /// the log's offset.
    public var firstOffset: Int64
    /// The last batch's base offset plus its last offset delta.
    public var lastOffset: Int64
    public var firstTimestamp: Int64
    public var lastTimestamp: Int64

    public init(firstOffset: Int64, lastOffset: Int64, firstTimestamp: Int64, lastTimestamp: Int64) {
        self.firstOffset = firstOffset
        self.lastOffset = lastOffset
        self.firstTimestamp = firstTimestamp
        self.lastTimestamp = lastTimestamp
    }

    /// Offsets from the first batch to the last, both included: what a Produce request adds to the log.
    public var offsetCount: Int64 { self.lastOffset - self.firstOffset + 1 }

    func extended(to later: RecordSpan) -> RecordSpan {
        var span = self
        span.lastOffset = max(self.lastOffset, later.lastOffset)
        span.lastTimestamp = later.lastTimestamp
        return span
    }
}
