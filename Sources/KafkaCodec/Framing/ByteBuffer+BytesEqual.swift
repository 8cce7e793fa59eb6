import Glibc
public import NIOCore

extension ByteBuffer {
    /// Whether the readable bytes at `range` (relative to the reader index; all of them when nil) are `bytes`,
    /// compared in place: callers that remember the last client id check a frame against it without making a
    /// string, a slice or an array per frame.
    public func readableBytes(_ range: Range<Int>? = nil, equal bytes: [UInt8]) -> Bool {
        let range = range ?? 0..<self.readableBytes
        guard range.count == bytes.count, range.lowerBound >= 0, range.upperBound <= self.readableBytes else { return false }
        guard !bytes.isEmpty else { return true }
        return self.withUnsafeReadableBytes { mine in
            bytes.withUnsafeBytes { memcmp(mine.baseAddress! + range.lowerBound, $0.baseAddress!, range.count) == 0 }
        }
    }
}
