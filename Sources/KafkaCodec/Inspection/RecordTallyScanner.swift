import NIOCore

/// Counts record batches in record data that arrives in pieces, as `RecordBatchReader.tally` counts a whole
/// `records` field, keeping only the header of the batch in progress.
struct RecordTallyScanner {
    private(set) var tally = RecordTally(records: 0, bytes: 0)
    /// The start of the batch in progress, up to its record count.
    private var header: [UInt8] = []
    /// Bytes of the batch in progress after `header`.
    private var rest = 0
    /// What the batch in progress adds once its last byte has passed; a batch cut off at the end (as fetch
    /// responses may be) is not counted.
    private var pending = RecordTally(records: 0, bytes: 0)

    mutating func feed(_ raw: UnsafeRawBufferPointer) {
        var index = 0
        while index < raw.count {
            if self.rest > 0 {
                let step = min(self.rest, raw.count - index)
                self.rest -= step
                index += step
                if self.rest == 0 { self.batchComplete() }
                continue
            }
            let wanted = self.headerLength() - self.header.count
            let step = min(wanted, raw.count - index)
            self.header.append(contentsOf: raw[index..<(index + step)])
            index += step
            if self.header.count == self.headerLength() { self.batchHeaderComplete() }
        }
    }

    /// Bytes of a batch to read before it can be counted: the log overhead and magic byte, then for magic 2 the
    /// whole v2 header up to the record count.
    private func headerLength() -> Int {
        guard self.header.count >= 17 else { return 17 }
        return self.header[16] == 2 ? RecordBatchReader.batchHeaderLength : 17
    }

    private mutating func batchHeaderComplete() {
        let length = self.header[8..<12].reduce(0) { $0 << 8 | Int($1) }
        let total = RecordBatchReader.logOverhead + length
        guard total >= self.header.count else {
            self.rest = Int.max  // corrupt: count nothing more
            return
        }
        let count = self.header[16] == 2 ? Int(Int32(truncatingIfNeeded: self.header[57..<61].reduce(0) { $0 << 8 | Int($1) })) : 1
        self.pending = RecordTally(records: count, bytes: total)
        self.rest = total - self.header.count
        if self.rest == 0 { self.batchComplete() }
    }

    private mutating func batchComplete() {
        self.tally.records += self.pending.records
        self.tally.bytes += self.pending.bytes
        self.header.removeAll(keepingCapacity: true)
    }
}
