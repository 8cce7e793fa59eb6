public import NIOCore

/// Blanking of SASL tokens, for recordings that must not hold credentials.
extension KafkaCodec {
    /// A copy of a SaslAuthenticate request payload (after the size prefix) with the bytes of `authBytes`
    /// zeroed and everything else, lengths included, unchanged; nil if the payload is not one.
    public static func blankingSaslToken(inRequest payload: ByteBuffer) -> ByteBuffer? {
        guard let prefix = self.peekRequestHeader(payload), prefix.apiKey == .saslAuthenticate,
            let api = APIDescriptor.lookup(.saslAuthenticate), api.validVersions.contains(prefix.apiVersion)
        else { return nil }
        var reader = WireReader(payload, origin: payload.readerIndex)
        do {
            _ = try reader.skimRequestHeader(version: api.requestHeaderVersion(prefix.apiVersion))
            return try self.blankingBytesField(in: payload, at: &reader, compact: api.request.isFlexible(prefix.apiVersion))
        } catch {
            return nil
        }
    }

    /// As `blankingSaslToken(inRequest:)`, for a SaslAuthenticate response of `version`.
    public static func blankingSaslToken(inResponse payload: ByteBuffer, version: Int16) -> ByteBuffer? {
        guard let api = APIDescriptor.lookup(.saslAuthenticate), api.validVersions.contains(version) else { return nil }
        let flexible = api.response.isFlexible(version)
        var reader = WireReader(payload, origin: payload.readerIndex)
        do {
            try reader.skimResponseHeader(version: api.responseHeaderVersion(version))
            _ = try reader.readInteger(as: Int16.self)  // errorCode
            _ = try reader.readNullableString(compact: flexible, nullable: true)  // errorMessage
            return try self.blankingBytesField(in: payload, at: &reader, compact: flexible)
        } catch {
            return nil
        }
    }

    /// Zeroes the data of the bytes field `reader` stands at.
    private static func blankingBytesField(
        in payload: ByteBuffer, at reader: inout WireReader, compact: Bool
    ) throws(KafkaDecodingError) -> ByteBuffer {
        let length = try reader.readNullableLength(compact: compact, classicWidth: 4, nullable: false) ?? 0
        let start = reader.offset
        _ = try reader.readSlice(length: length)
        var copy = ByteBuffer()
        copy.reserveCapacity(payload.readableBytes)
        copy.writeImmutableBuffer(payload)
        copy.setRepeatingByte(0, count: length, at: copy.readerIndex + start)
        return copy
    }
}
