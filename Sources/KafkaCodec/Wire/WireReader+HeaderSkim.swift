import NIOCore

/// Headers read past without building values, for the paths that run once per frame and want at most the
/// client id. They check what decoding checks (lengths, tagged-field order), so a bad header still fails.
extension WireReader {
    /// Reads a request header of `version` (0–2) and gives its client id bytes, nil when absent or null, or
    /// when not `keepingClientID` (a slice costs a retain of the buffer's storage).
    mutating func skimRequestHeader(version: Int16, keepingClientID: Bool = true) throws(KafkaDecodingError) -> ByteBuffer? {
        try self.skip(length: 8)  // key, version, correlation id
        guard version >= 1 else { return nil }
        var clientID: ByteBuffer?
        // The client id stays a classic string even in flexible headers (RequestHeader.json).
        if let length = try self.readNullableLength(compact: false, classicWidth: 2, nullable: true) {
            if keepingClientID { clientID = try self.readSlice(length: length) } else { try self.skip(length: length) }
        }
        if version >= 2 { try self.skipTaggedFields() }
        return clientID
    }

    /// Reads a response header of `version` (0–1).
    mutating func skimResponseHeader(version: Int16) throws(KafkaDecodingError) {
        _ = try self.readInteger(as: Int32.self)  // correlation id
        if version >= 1 { try self.skipTaggedFields() }
    }

    /// Checks tag order and sizes as `readTaggedField` does, without slicing out each field.
    mutating func skipTaggedFields() throws(KafkaDecodingError) {
        // Nearly every structure has none: one zero byte.
        if self.buffer.getInteger(at: self.buffer.readerIndex, as: UInt8.self) == 0 {
            self.buffer.moveReaderIndex(forwardBy: 1)
            return
        }
        var previous: UInt32?
        for _ in 0..<(try self.readTaggedFieldCount()) {
            try self.skip(length: try self.readTaggedFieldHeader(after: &previous).size)
        }
    }
}
