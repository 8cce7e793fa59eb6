public import NIOCore

extension ByteBuffer {
    /// Writes an unsigned LEB128 varint, as flexible versions use for lengths and tags.
    @inlinable
    public mutating func writeUnsignedVarint(_ value: UInt32) {
        var remaining = value
        while remaining >= 0x80 {
            self.writeInteger(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        self.writeInteger(UInt8(remaining))
    }

    /// The number of bytes `writeUnsignedVarint` takes for `value`.
    @inlinable
    public static func unsignedVarintSize(_ value: UInt32) -> Int {
        var size = 1
        var remaining = value >> 7
        while remaining != 0 {
            size += 1
            remaining >>= 7
        }
        return size
    }
}
