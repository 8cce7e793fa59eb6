public import NIOCore

/// Records and bytes in a `records` field, from batch headers alone: no CRC check, no decompression.
public struct RecordTally: Hashable, Sendable {
    public var records: Int
    public var bytes: Int

    public init(records: Int, bytes: Int) {
        self.records = records
        self.bytes = bytes
    }
}

extension RecordBatchReader {
    /// Counts what `read` would find, cheaply enough for every Produce and Fetch on the proxy's path. A trailing
    /// partial batch (fetch responses may end inside one) is not counted.
    public static func tally(_ records: ByteBuffer) -> RecordTally {
        var position = records.readerIndex
        let end = records.writerIndex
        var tally = RecordTally(records: 0, bytes: 0)
        while end - position >= Self.logOverhead + 5,
            let length = records.getInteger(at: position + 8, as: Int32.self), length >= 0,
            end - position >= Self.logOverhead + Int(length)
        {
            let magic = records.getInteger(at: position + 16, as: Int8.self)!
            if magic == 2 {
                guard Int(length) + Self.logOverhead >= Self.batchHeaderLength else { break }
                tally.records += Int(records.getInteger(at: position + 57, as: Int32.self)!)
            } else {
                tally.records += 1  // a legacy message; a compressed wrapper's inner set is not opened
            }
            tally.bytes += Self.logOverhead + Int(length)
            position += Self.logOverhead + Int(length)
        }
        return tally
    }
}
