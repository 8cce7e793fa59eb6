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
