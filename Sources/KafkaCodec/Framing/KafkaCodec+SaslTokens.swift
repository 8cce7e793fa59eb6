public import NIOCore

/// Blanking of SASL tokens, for recordings that must not hold credentials.
extension KafkaCodec {
    /// A copy of a SaslAuthenticate request payload (after the size prefix) with the bytes of `authBytes`
    /// zeroed and everything else, lengths included, unchanged; nil if the payload is not one.
    public static func blankingSaslToken(inRequest payload: ByteBuffer) -> ByteBuffer? {
        guard let prefix = self.peekRequestHeader(payload), prefix.apiKey == .saslAuthenticate,
            let api = APIDescriptor.lookup(.saslAuthenticate), api.validVersions.contains(prefix.apiVersion)
        else { return nil }
        let token = try? ByteCursor.reading(payload) { cursor throws(KafkaDecodingError) in
            _ = try cursor.skimRequestHeader(version: api.requestHeaderVersion(prefix.apiVersion))
            return try cursor.bytesField(compact: api.request.isFlexible(prefix.apiVersion))
        }
        return token.map { self.blanking($0, in: payload) }
    }

    /// As `blankingSaslToken(inRequest:)`, for a SaslAuthenticate response of `version`.
    public static func blankingSaslToken(inResponse payload: ByteBuffer, version: Int16) -> ByteBuffer? {
        guard let api = APIDescriptor.lookup(.saslAuthenticate), api.validVersions.contains(version) else { return nil }
        let flexible = api.response.isFlexible(version)
        let token = try? ByteCursor.reading(payload) { cursor throws(KafkaDecodingError) in
            try cursor.skimResponseHeader(version: api.responseHeaderVersion(version))
            _ = try cursor.readInteger(as: Int16.self)  // errorCode
            if let message = try cursor.readNullableLength(compact: flexible, classicWidth: 2, nullable: true) {
                try cursor.skip(length: message)  // errorMessage
            }
            return try cursor.bytesField(compact: flexible)
        }
        return token.map { self.blanking($0, in: payload) }
    }

    /// A copy of `payload` with the bytes at `range` (relative to its reader index) zeroed.
    private static func blanking(_ range: Range<Int>, in payload: ByteBuffer) -> ByteBuffer {
        var copy = ByteBuffer()
        copy.reserveCapacity(payload.readableBytes)
        copy.writeImmutableBuffer(payload)
        copy.setRepeatingByte(0, count: range.count, at: copy.readerIndex + range.lowerBound)
        return copy
    }
}

extension ByteCursor {
    /// Where the data of the (non-null) bytes field the cursor stands at lies; the cursor moves past it.
    fileprivate mutating func bytesField(compact: Bool) throws(KafkaDecodingError) -> Range<Int> {
        let length = try self.readNullableLength(compact: compact, classicWidth: 4, nullable: false) ?? 0
        let start = self.offset
        try self.skip(length: length)
        return start..<self.offset
    }
}
