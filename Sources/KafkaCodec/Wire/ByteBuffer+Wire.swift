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

    /// Writes a length in the compact (`length + 1` varint) or classic (int16/int32) form; `-1` is null.
    @inlinable
    mutating func writeLength(_ length: Int, compact: Bool, classicWidth: Int) {
        if compact {
            self.writeUnsignedVarint(UInt32(truncatingIfNeeded: length + 1))
        } else if classicWidth == 2 {
            self.writeInteger(Int16(truncatingIfNeeded: length))
        } else {
            self.writeInteger(Int32(truncatingIfNeeded: length))
        }
    }
}
