public import NIOCore

/// Cheap looks into frames for the proxy's hot path, without decoding whole messages.
extension KafkaCodec {
    /// The `acks` of a Produce request payload (after the size prefix), or nil if the frame is not one.
    ///
    /// `acks = 0` means the broker sends no response, so the proxy must not wait for one.
    public static func produceAcks(_ payload: ByteBuffer) -> Int16? {
        // Skimmed rather than decoded, with no slice and no reference counted: this runs for every Produce the
        // proxy forwards or a capture holds.
        guard let prefix = self.peekRequestHeader(payload), prefix.apiKey == .produce,
            let version = APIDescriptor.reading(.produce)?(prefix.apiVersion)
        else { return nil }
        // Produce requests are flexible exactly where their header is (v2).
        let flexible = version.requestHeaderVersion >= 2
        if let acks = self.produceAcksAtUsualPlaces(payload, version: prefix.apiVersion, flexible: flexible) { return acks }
        return try? ByteCursor.reading(payload) { cursor throws(KafkaDecodingError) in
            _ = try cursor.skimRequestHeader(version: version.requestHeaderVersion)
            if prefix.apiVersion >= 3, let transactionalID = try cursor.readNullableLength(
                compact: flexible, classicWidth: 2, nullable: true)
            {
                try cursor.skip(length: transactionalID)
            }
            return try cursor.readInteger(as: Int16.self)
        }
    }

    /// Whether the broker answers this request: every request but a Produce with `acks = 0`. The one rule for the
    /// proxy, which must not wait for an answer that never comes, and the capture analyzer, which must not count
    /// one as missing.
    public static func expectsResponse(_ payload: ByteBuffer, header: RequestHeaderPrefix) -> Bool {
        header.apiKey != .produce || self.produceAcks(payload) != 0
    }

    /// `acks` found by offsets alone when the header has no tagged fields and the lengths before it are short,
    /// as in nearly every request; nil to leave anything else to the reader, which checks it the way decoding does.
    private static func produceAcksAtUsualPlaces(_ payload: ByteBuffer, version: Int16, flexible: Bool) -> Int16? {
        guard let clientID = payload.getInteger(at: payload.readerIndex + 8, as: Int16.self), clientID >= -1 else { return nil }
        var position = payload.readerIndex + 10 + max(0, Int(clientID))
        if flexible {
            guard payload.getInteger(at: position, as: UInt8.self) == 0 else { return nil }  // tagged fields follow
            position += 1
        }
        if version >= 3 {  // the transactional id, nullable
            if flexible {
                guard let length = payload.getInteger(at: position, as: UInt8.self), length < 0x80 else { return nil }
                position += 1 + max(0, Int(length) - 1)
            } else {
                guard let length = payload.getInteger(at: position, as: Int16.self), length >= -1 else { return nil }
                position += 2 + max(0, Int(length))
            }
        }
        return payload.getInteger(at: position, as: Int16.self)
    }

    /// Splits a response payload into its header and body at the header version of `apiKey` and `apiVersion`.
    public static func splitResponse(
        _ payload: ByteBuffer,
        apiKey: APIKey,
        apiVersion: Int16
    ) throws(KafkaDecodingError) -> (header: ByteBuffer, body: ByteBuffer) {
        guard let api = APIDescriptor.lookup(apiKey) else {
            throw KafkaDecodingError(.invalidLength, field: "header", offset: 0, "unknown API key \(apiKey.rawValue)")
        }
        var reader = WireReader(payload, origin: payload.readerIndex)
        do {
            _ = try StructDecoder(plan: MessageSchema.responseHeader.plan(for: api.responseHeaderVersion(apiVersion)))
                .readMessage(from: &reader)
        } catch {
            throw error.inside("header").about(apiKey, apiVersion)
        }
        let headerLength = reader.buffer.readerIndex - payload.readerIndex
        return (payload.getSlice(at: payload.readerIndex, length: headerLength)!, reader.buffer)
    }
}

extension KafkaCodec {
    /// Where the client id of a request's header lies, relative to the reader index, from the frame's first bytes
    /// (a streamed frame's head is enough); nil when absent, null or cut off. A range rather than a string, so that
    /// a caller can compare the bytes with the last ones before making one.
    public static func peekClientID(_ payload: ByteBuffer) -> Range<Int>? {
        guard let prefix = self.peekRequestHeader(payload),
            APIDescriptor.lookup(prefix.apiKey).map({ $0.requestHeaderVersion(prefix.apiVersion) >= 1 }) ?? true,
            let length = payload.getInteger(at: payload.readerIndex + 8, as: Int16.self), length >= 0,
            10 + Int(length) <= payload.readableBytes
        else { return nil }
        return 10..<(10 + Int(length))
    }
}
