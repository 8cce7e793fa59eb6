/// Reads Kafka's primitive types straight from a frame's memory, for the readers that run once per frame and
/// keep nothing of it but facts (`FactReader`).
///
/// `WireReader` reads through `ByteBuffer`, whose every read checks and counts its storage: right for decoding,
/// which keeps slices of the frame, but a third of the cost of reading facts. This cursor checks each read against
/// the frame's end and nothing else. Make one only inside `withUnsafeReadableBytes` and let it go there: it
/// must not outlive the memory it reads. Errors carry the offset from the frame's start, as `WireReader`'s do.
struct ByteCursor: VarintReading {
    private let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var readableBytes: Int { self.bytes.count &- self.offset }

    func error(_ code: KafkaDecodingError.Code, _ detail: String = "") -> KafkaDecodingError {
        KafkaDecodingError(code, offset: self.offset, detail)
    }

    @inline(never)
    private func truncated(needing count: Int) -> KafkaDecodingError {
        self.error(.truncated, "needed \(count) bytes, \(self.readableBytes) left")
    }

    @inline(__always)
    mutating func readInteger<T: FixedWidthInteger>(as: T.Type = T.self) throws(KafkaDecodingError) -> T {
        let size = MemoryLayout<T>.size
        guard size <= self.readableBytes else { throw self.truncated(needing: size) }
        let value = T(bigEndian: self.bytes.loadUnaligned(fromByteOffset: self.offset, as: T.self))
        self.offset &+= size
        return value
    }

    /// Moves past `length` bytes.
    mutating func skip(length: Int) throws(KafkaDecodingError) {
        _ = try self.readBytes(length: length)
    }

    /// The next `length` bytes, valid as long as the frame's memory is.
    @inline(__always)
    mutating func readBytes(length: Int) throws(KafkaDecodingError) -> UnsafeRawBufferPointer {
        guard length >= 0 else { throw self.error(.invalidLength, "negative length \(length)") }
        guard length <= self.readableBytes else { throw self.truncated(needing: length) }
        let start = self.offset
        self.offset &+= length
        return UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.offset])
    }

    /// `length` bytes as text; invalid UTF-8 is repaired, as `ByteBuffer.readString` repairs it.
    mutating func readText(length: Int) throws(KafkaDecodingError) -> String {
        String(decoding: try self.readBytes(length: length), as: UTF8.self)
    }

    /// An unsigned LEB128 varint of at most 5 bytes, as used by flexible versions.
    @inline(__always)
    mutating func readUnsignedVarint() throws(KafkaDecodingError) -> UInt32 {
        // Lengths and tag counts are nearly always below 128: one byte, no loop.
        if self.offset < self.bytes.count, case let byte = self.bytes[self.offset], byte < 0x80 {
            self.offset &+= 1
            return UInt32(byte)
        }
        return try self.readLongUnsignedVarint()
    }

    /// A length, or nil for null (allowed only where `nullable`): compact forms store `length + 1` as an unsigned
    /// varint, classic forms an int16 (strings) or int32.
    @inline(__always)
    mutating func readNullableLength(compact: Bool, classicWidth: Int, nullable: Bool) throws(KafkaDecodingError) -> Int? {
        let length = compact
            ? Int(try self.readUnsignedVarint()) - 1
            : classicWidth == 2 ? Int(try self.readInteger(as: Int16.self)) : Int(try self.readInteger(as: Int32.self))
        if length == -1 {
            guard nullable else { throw self.error(.unexpectedNull, "null in a non-nullable field") }
            return nil
        }
        guard length >= 0 else { throw self.error(.invalidLength, "negative length \(length)") }
        return length
    }

    /// Checks tag order and sizes as decoding does.
    @inline(__always)
    mutating func skipTaggedFields() throws(KafkaDecodingError) {
        if !self.skipEmptyTaggedFields() { try self.skipSomeTaggedFields() }
    }

    /// Moves past a tagged-field section that holds no field, as nearly every structure's does (one zero byte);
    /// false, without moving, for any other.
    @inline(__always)
    mutating func skipEmptyTaggedFields() -> Bool {
        guard self.offset < self.bytes.count, self.bytes[self.offset] == 0 else { return false }
        self.offset &+= 1
        return true
    }

    private mutating func skipSomeTaggedFields() throws(KafkaDecodingError) {
        try self.forEachTaggedField { _, _ throws(KafkaDecodingError) in }
    }

    /// Reads the tagged-field section, checking tag order and sizes, and hands each field's tag and bytes to `body`.
    mutating func forEachTaggedField(
        _ body: (UInt32, UnsafeRawBufferPointer) throws(KafkaDecodingError) -> Void
    ) throws(KafkaDecodingError) {
        let count = try self.readUnsignedVarint()
        guard Int(count) <= self.readableBytes else {
            throw self.error(.invalidLength, "\(count) tagged fields in \(self.readableBytes) bytes")
        }
        var previous: UInt32?
        for _ in 0..<count {
            let tag = try self.readUnsignedVarint()
            if let previous, tag <= previous {
                throw self.error(.invalidTaggedField, "tag \(tag) follows tag \(previous)")
            }
            previous = tag
            try body(tag, try self.readBytes(length: Int(try self.readUnsignedVarint())))
        }
    }
}
