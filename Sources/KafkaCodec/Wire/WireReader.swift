import NIOCore

/// Reads Kafka's primitive types from a buffer, throwing errors that carry the byte offset.
struct WireReader: VarintReading {
    var buffer: ByteBuffer
    /// The buffer index that reports as offset 0, so nested slices report offsets in the whole input.
    let origin: Int

    init(_ buffer: ByteBuffer, origin: Int) {
        self.buffer = buffer
        self.origin = origin
    }

    var offset: Int { self.buffer.readerIndex - self.origin }
    var readableBytes: Int { self.buffer.readableBytes }

    func error(_ code: KafkaDecodingError.Code, _ detail: String = "") -> KafkaDecodingError {
        KafkaDecodingError(code, offset: self.offset, detail)
    }

    mutating func readInteger<T: FixedWidthInteger>(as: T.Type = T.self) throws(KafkaDecodingError) -> T {
        guard let value = self.buffer.readInteger(as: T.self) else {
            throw self.error(.truncated, "needed \(MemoryLayout<T>.size) bytes, \(self.buffer.readableBytes) left")
        }
        return value
    }

    mutating func readSlice(length: Int) throws(KafkaDecodingError) -> ByteBuffer {
        guard length >= 0 else { throw self.error(.invalidLength, "negative length \(length)") }
        guard let slice = self.buffer.readSlice(length: length) else {
            throw self.error(.truncated, "needed \(length) bytes, \(self.buffer.readableBytes) left")
        }
        return slice
    }

    /// An unsigned LEB128 varint of at most 5 bytes, as used by flexible versions.
    mutating func readUnsignedVarint() throws(KafkaDecodingError) -> UInt32 {
        // Lengths and tag counts are nearly always below 128: one byte, no loop.
        if let byte = self.buffer.getInteger(at: self.buffer.readerIndex, as: UInt8.self), byte < 0x80 {
            self.buffer.moveReaderIndex(forwardBy: 1)
            return UInt32(byte)
        }
        return try self.readLongUnsignedVarint()
    }

    /// A zig-zag varint of at most 10 bytes, as used inside records.
    mutating func readVarlong() throws(KafkaDecodingError) -> Int64 {
        var raw: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte: UInt8 = try self.readInteger()
            guard shift <= 63 else { throw self.error(.invalidVarint, "varlong longer than 64 bits") }
            raw |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// The length of a string, bytes or array: `-1` means null.
    ///
    /// Compact forms store `length + 1` as an unsigned varint; classic forms an int16 (strings) or int32.
    mutating func readLength(compact: Bool, classicWidth: Int) throws(KafkaDecodingError) -> Int {
        if compact {
            return Int(try self.readUnsignedVarint()) - 1
        }
        return classicWidth == 2 ? Int(try self.readInteger(as: Int16.self)) : Int(try self.readInteger(as: Int32.self))
    }
}
