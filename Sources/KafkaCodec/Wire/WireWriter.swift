import NIOCore

/// A growable byte buffer for encoding, with one capacity check and one store per field.
///
/// Encoding straight into `ByteBuffer` pays a capacity check, a uniqueness check and a call into NIOCore for
/// every integer; on a 1,000-partition Metadata response that was most of the encoding time. The bytes are
/// copied into the caller's `ByteBuffer` once at the end.
struct WireWriter: ~Copyable {
    private var storage: UnsafeMutableRawPointer
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        self.capacity = max(capacity, 16)
        self.storage = .allocate(byteCount: self.capacity, alignment: 8)
    }

    deinit {
        self.storage.deallocate()
    }

    @inline(__always)
    private mutating func reserve(_ bytes: Int) {
        if self.count + bytes > self.capacity { self.grow(to: self.count + bytes) }
    }

    @inline(never)
    private mutating func grow(to needed: Int) {
        let capacity = max(self.capacity * 2, needed)
        let storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        storage.copyMemory(from: self.storage, byteCount: self.count)
        self.storage.deallocate()
        self.storage = storage
        self.capacity = capacity
    }

    mutating func writeInteger<T: FixedWidthInteger>(_ value: T) {
        self.reserve(MemoryLayout<T>.size)
        self.storage.storeBytes(of: value.bigEndian, toByteOffset: self.count, as: T.self)
        self.count += MemoryLayout<T>.size
    }

    mutating func writeMultipleIntegers(_ first: UInt64, _ second: UInt64) {
        self.writeInteger(first)
        self.writeInteger(second)
    }

    mutating func writeBytes(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        self.reserve(bytes.count)
        (self.storage + self.count).copyMemory(from: base, byteCount: bytes.count)
        self.count += bytes.count
    }

    mutating func writeString(_ value: String) {
        var value = value
        value.withUTF8 { self.writeBytes(UnsafeRawBufferPointer($0)) }
    }

    mutating func writeImmutableBuffer(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { self.writeBytes($0) }
    }

    /// An unsigned LEB128 varint, as flexible versions use for lengths and tags.
    mutating func writeUnsignedVarint(_ value: UInt32) {
        var remaining = value
        while remaining >= 0x80 {
            self.writeInteger(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        self.writeInteger(UInt8(remaining))
    }

    /// A length in the compact (`length + 1` varint) or classic (int16/int32) form; `-1` is null.
    mutating func writeLength(_ length: Int, compact: Bool, classicWidth: Int) {
        if compact {
            self.writeUnsignedVarint(UInt32(truncatingIfNeeded: length + 1))
        } else if classicWidth == 2 {
            self.writeInteger(Int16(truncatingIfNeeded: length))
        } else {
            self.writeInteger(Int32(truncatingIfNeeded: length))
        }
    }

    /// Appends everything written to `buffer`.
    func append(to buffer: inout ByteBuffer) {
        buffer.writeBytes(UnsafeRawBufferPointer(start: self.storage, count: self.count))
    }

    var byteBuffer: ByteBuffer {
        var buffer = ByteBuffer()
        self.append(to: &buffer)
        return buffer
    }
}
