import NIOCore

/// Headers read past without building values, for the paths that run once per frame and want at most the
/// client id. They check what decoding checks (lengths, tagged-field order), so a bad header still fails.
extension ByteCursor {
    /// Runs `body` with a cursor over `buffer`'s readable bytes.
    static func reading<Value>(
        _ buffer: ByteBuffer, _ body: (inout ByteCursor) throws(KafkaDecodingError) -> Value
    ) throws(KafkaDecodingError) -> Value {
        try buffer.withUnsafeReadableBytes { bytes in
            var cursor = ByteCursor(bytes)
            return Result { () throws(KafkaDecodingError) in try body(&cursor) }
        }.get()
    }

    /// Reads a request header of `version` (0–2) and gives where its client id lies, nil when absent or null.
    mutating func skimRequestHeader(version: Int16) throws(KafkaDecodingError) -> Range<Int>? {
        try self.skip(length: 8)  // key, version, correlation id
        guard version >= 1 else { return nil }
        var clientID: Range<Int>?
        // The client id stays a classic string even in flexible headers (RequestHeader.json).
        if let length = try self.readNullableLength(compact: false, classicWidth: 2, nullable: true) {
            clientID = self.offset..<(self.offset + length)
            try self.skip(length: length)
        }
        if version >= 2 { try self.skipTaggedFields() }
        return clientID
    }

    /// Reads a response header of `version` (0–1).
    mutating func skimResponseHeader(version: Int16) throws(KafkaDecodingError) {
        _ = try self.readInteger(as: Int32.self)  // correlation id
        if version >= 1 { try self.skipTaggedFields() }
    }

    func expectEnd() throws(KafkaDecodingError) {
        guard self.readableBytes == 0 else {
            throw self.error(.trailingBytes, "\(self.readableBytes) bytes after the message")
        }
    }
}
