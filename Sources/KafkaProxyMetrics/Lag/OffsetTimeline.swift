/// When offsets of one partition were appended: a bounded, offset-ordered table of (offset, timestamp) samples
/// from record batch headers, read by interpolation.
///
/// Batches are produced and fetched roughly in offset order, so a new sample mostly goes at the end. There the
/// newest sample moves on, rather than a new one being added, while the new one is within `spacing` of the sample
/// before the newest: a partition taking a batch a millisecond would otherwise fill the table, and thin it, every
/// 30 batches. When the table is full every other sample is dropped: the range stays covered, at half the
/// resolution.
struct OffsetTimeline: Sendable {
    struct Sample: Equatable, Sendable {
        var offset: Int64
        var timestamp: Int64
    }

    /// In offset order. One array of pairs rather than two arrays: an added sample costs one uniqueness check.
    private(set) var samples: [Sample] = []

    /// Milliseconds between samples, at least, except for the newest; interpolated times are this close.
    static let spacing: Int64 = 100

    /// Adds a sample; returns how many samples were dropped to make room.
    mutating func add(_ sample: Sample, capacity: Int) -> Int {
        let (offset, timestamp) = (sample.offset, sample.timestamp)
        guard timestamp >= 0, offset >= 0 else { return 0 }
        let position = self.insertionPoint(offset)
        let newest = self.samples.count - 1
        if position == self.samples.count, newest >= 1, timestamp >= self.samples[newest].timestamp,
            timestamp - self.samples[newest - 1].timestamp < Self.spacing
        {
            self.samples[newest] = sample
            return 0
        }
        if position < self.samples.count, self.samples[position].offset == offset {
            self.samples[position].timestamp = timestamp  // the same offset seen again: fetched after it was produced
            return 0
        }
        // Between two samples less than `spacing` apart, interpolation is already that close: a consumer fetching
        // what was produced a moment ago would otherwise insert, and thin the table, all along.
        if position > 0, position < self.samples.count,
            self.samples[position].timestamp - self.samples[position - 1].timestamp < Self.spacing
        {
            return 0
        }
        self.samples.insert(sample, at: position)
        guard self.samples.count > max(capacity, 2) else { return 0 }
        let before = self.samples.count
        let last = before - 1
        self.samples = self.samples.indices.filter { $0 % 2 == 0 || $0 == last }.map { self.samples[$0] }
        return before - self.samples.count
    }

    /// When the record at `offset` was appended: exact for a sampled offset, interpolated between the samples
    /// around it, the nearest sample's time outside their range on the early side; nil past the newest sample,
    /// which no batch seen so far reached.
    func timestamp(at offset: Int64) -> Int64? {
        guard let newest = self.samples.last, offset <= newest.offset else { return nil }
        let position = self.insertionPoint(offset)
        let high = self.samples[position]
        if high.offset == offset || position == 0 { return high.timestamp }
        let low = self.samples[position - 1]
        let fraction = Double(offset - low.offset) / Double(high.offset - low.offset)
        return low.timestamp + Int64((Double(high.timestamp - low.timestamp) * fraction).rounded())
    }

    /// The first position whose offset is at least `offset`.
    private func insertionPoint(_ offset: Int64) -> Int {
        if let last = self.samples.last, last.offset < offset { return self.samples.count }
        var (low, high) = (0, self.samples.count)
        while low < high {
            let middle = (low + high) / 2
            if self.samples[middle].offset < offset { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
