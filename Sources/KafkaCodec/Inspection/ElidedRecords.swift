import NIOCore

/// Where a `FrameSkeleton` cut record data out, so that the decoder can step over those fields.
///
/// A records field the skeleton does not know yet is where the stream is now inside record data: the decoder
/// reports its place through `found` and stops, as if the input ended there.
final class ElidedRecords {
    /// Offsets, in the skeleton, at which a records field's data was cut out.
    var offsets: Set<Int> = []
    /// The records field the last decode stopped at: its offset and declared length.
    var found: (offset: Int, length: Int)?

    func records(at offset: Int, length: Int) throws(KafkaDecodingError) -> KafkaValue {
        if self.offsets.contains(offset) { return .records(ByteBuffer()) }
        self.found = (offset, length)
        throw KafkaDecodingError(.truncated, offset: offset, "record data not cut out yet")
    }
}

/// Where a `FrameSkeleton` cut record data out, with the counts it took of that data, for `FactReader`.
struct ElidedTallies {
    /// Ascending offsets in the skeleton, one per records field cut out.
    let offsets: [Int]
    /// The counts of those fields, in the same order; fewer when the skeleton failed before the last.
    let tallies: [RecordTally]

    func tally(at offset: Int) -> RecordTally? {
        var (low, high) = (0, self.offsets.count)
        while low < high {
            let middle = (low + high) / 2
            if self.offsets[middle] < offset { low = middle + 1 } else { high = middle }
        }
        return low < self.offsets.count && self.offsets[low] == offset && low < self.tallies.count ? self.tallies[low] : nil
    }
}
