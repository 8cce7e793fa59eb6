/// Counts record batches in record data that arrives in pieces, as `RecordBatchReader.tally` counts a whole
/// `records` field, keeping only the header of the batch in progress.
struct RecordTallyScanner {
    private(set) var tally = RecordTally(records: 0, bytes: 0)
    /// The start of the entry in progress, up to what `RecordEntryHead` needs to judge it.
    private var header: [UInt8] = []
    /// Bytes of the entry in progress after `header`.
    private var rest = 0
    /// What the entry in progress adds once its last byte has passed; an entry cut off at the end (as fetch
    /// responses may be) is not counted.
    private var pending: RecordEntryHead.Judgement?

    mutating func feed(_ raw: UnsafeRawBufferPointer) {
        var index = 0
        while index < raw.count {
            if self.rest > 0 {
                let step = min(self.rest, raw.count - index)
                self.rest -= step
                index += step
                if self.rest == 0 { self.entryComplete() }
                continue
            }
            let wanted = self.bytesNeeded() - self.header.count
            let step = min(wanted, raw.count - index)
            self.header.append(contentsOf: raw[index..<(index + step)])
            index += step
            if self.header.count == self.bytesNeeded() { self.headerComplete() }
        }
    }

    private func bytesNeeded() -> Int {
        self.header.withUnsafeBytes { RecordEntryHead.bytesNeeded($0) }
    }

    private mutating func headerComplete() {
        let judgement = self.header.withUnsafeBytes { RecordEntryHead.judge($0) }
        switch judgement {
        case .entry(let total, _, _), .malformed(let total, _):
            self.pending = judgement
            self.rest = total - self.header.count
            if self.rest == 0 { self.entryComplete() }
        case .unreadable:
            self.tally.add(judgement)
            self.rest = Int.max  // nothing after an entry of unknown length can be found
        }
    }

    private mutating func entryComplete() {
        if let pending = self.pending { self.tally.add(pending) }
        self.pending = nil
        self.header.removeAll(keepingCapacity: true)
    }
}
