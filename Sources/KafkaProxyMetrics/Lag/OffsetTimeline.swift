/// When offsets of one partition were appended: a bounded, offset-ordered table of (offset, timestamp) samples
/// from record batch headers, read by interpolation.
///
/// Batches are produced and fetched roughly in offset order, so a new sample mostly goes at the end. There the
/// newest sample moves on, rather than a new one being added, while the new one is within `spacing` of the sample
/// before the newest: a partition taking a batch a millisecond would otherwise fill the table, and thin it, every
/// 30 batches. When the table is full every other sample is dropped: the range stays covered, at half the
/// resolution.
struct OffsetTimeline: Sendable {
    private(set) var offsets: [Int64] = []
    private(set) var timestamps: [Int64] = []

    /// Milliseconds between samples, at least, except for the newest; interpolated times are this close.
    static let spacing: Int64 = 100

    /// Adds a sample; returns how many samples were dropped to make room.
    mutating func add(offset: Int64, timestamp: Int64, capacity: Int) -> Int {
        guard timestamp >= 0, offset >= 0 else { return 0 }
        let position = self.insertionPoint(offset)
        let newest = self.offsets.count - 1
        if position == self.offsets.count, newest >= 1, timestamp >= self.timestamps[newest],
            timestamp - self.timestamps[newest - 1] < Self.spacing
        {
            self.offsets[newest] = offset
            self.timestamps[newest] = timestamp
            return 0
        }
        if position < self.offsets.count, self.offsets[position] == offset {
            self.timestamps[position] = timestamp  // the same offset seen again: fetched after it was produced
            return 0
        }
        self.offsets.insert(offset, at: position)
        self.timestamps.insert(timestamp, at: position)
        guard self.offsets.count > max(capacity, 2) else { return 0 }
        let before = self.offsets.count
        let last = before - 1
        let kept = self.offsets.indices.filter { $0 % 2 == 0 || $0 == last }
        self.offsets = kept.map { self.offsets[$0] }
        self.timestamps = kept.map { self.timestamps[$0] }
        return before - self.offsets.count
    }

    /// When the record at `offset` was appended: exact for a sampled offset, interpolated between the samples
    /// around it, the nearest sample's time outside their range on the early side; nil past the newest sample,
    /// which no batch seen so far reached.
    func timestamp(at offset: Int64) -> Int64? {
        guard let newest = self.offsets.last, offset <= newest else { return nil }
        let position = self.insertionPoint(offset)
        if self.offsets[position] == offset || position == 0 { return self.timestamps[position] }
        let (lowOffset, highOffset) = (self.offsets[position - 1], self.offsets[position])
        let (lowTime, highTime) = (self.timestamps[position - 1], self.timestamps[position])
        let fraction = Double(offset - lowOffset) / Double(highOffset - lowOffset)
        return lowTime + Int64((Double(highTime - lowTime) * fraction).rounded())
    }

    /// The first position whose offset is at least `offset`.
    private func insertionPoint(_ offset: Int64) -> Int {
        if let last = self.offsets.last, last < offset { return self.offsets.count }
        var (low, high) = (0, self.offsets.count)
        while low < high {
            let middle = (low + high) / 2
            if self.offsets[middle] < offset { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
