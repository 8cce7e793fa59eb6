public import NIOCore

/// Decodes and encodes whole Kafka frames (the payload after the 4-byte size prefix).
///
/// Requests are self-describing through their header. A response is decoded against the key and version of
/// the request it answers, which the caller tracks by correlation id.
public enum KafkaCodec {
    /// Reads key, version and correlation id without decoding anything else.
    @inlinable
    public static func peekRequestHeader(_ frame: ByteBuffer) -> RequestHeaderPrefix? {
        guard let (key, version, correlationID) = frame.getMultipleIntegers(
            at: frame.readerIndex, as: (Int16, Int16, Int32).self)
        else { return nil }
        return RequestHeaderPrefix(apiKey: APIKey(rawValue: key), apiVersion: version, correlationID: correlationID)
    }

    /// Reads the correlation id that starts every response.
    @inlinable
    public static func peekResponseCorrelationID(_ frame: ByteBuffer) -> Int32? {
        frame.getInteger(at: frame.readerIndex, as: Int32.self)
    }

    /// Decodes a request frame; keys or versions beyond the schemas give an opaque frame rather than an error.
    public static func decodeRequest(_ frame: ByteBuffer) throws(KafkaDecodingError) -> DecodedFrame<KafkaRequest> {
        try self.decodeRequest(frame, origin: frame.readerIndex)
    }

    static func decodeRequest(
        _ frame: ByteBuffer, origin: Int, elided: ElidedRecords? = nil
    ) throws(KafkaDecodingError) -> DecodedFrame<KafkaRequest> {
        guard let prefix = self.peekRequestHeader(frame) else {
            throw KafkaDecodingError(.truncated, field: "header", offset: frame.readableBytes, "a request header needs 8 bytes")
        }
        guard let api = APIDescriptor.lookup(prefix.apiKey) else {
            return .opaque(OpaqueFrame(reason: .unknownAPIKey, prefix: prefix, bytes: frame))
        }
        guard api.validVersions.contains(prefix.apiVersion) else {
            return .opaque(OpaqueFrame(reason: .unsupportedVersion(supported: api.validVersions), prefix: prefix, bytes: frame))
        }
        let headerVersion = api.requestHeaderVersion(prefix.apiVersion)
        var reader = WireReader(frame, origin: origin)
        do {
            let header = try self.decode(.requestHeader, version: headerVersion, from: &reader, field: "header")
            let body = try self.decode(api.request, version: prefix.apiVersion, from: &reader, field: "", elided: elided)
            try self.expectEnd(reader)
            return .message(KafkaRequest(
                apiKey: prefix.apiKey, apiVersion: prefix.apiVersion, headerVersion: headerVersion, header: header, body: body))
        } catch {
            throw error.about(prefix.apiKey, prefix.apiVersion)
        }
    }

    /// Decodes a response frame to a request of `apiKey` at `apiVersion`.
    public static func decodeResponse(
        _ frame: ByteBuffer,
        apiKey: APIKey,
        apiVersion: Int16
    ) throws(KafkaDecodingError) -> DecodedFrame<KafkaResponse> {
        try self.decodeResponse(frame, apiKey: apiKey, apiVersion: apiVersion, origin: frame.readerIndex)
    }

    static func decodeResponse(
        _ frame: ByteBuffer,
        apiKey: APIKey,
        apiVersion: Int16,
        origin: Int,
        elided: ElidedRecords? = nil
    ) throws(KafkaDecodingError) -> DecodedFrame<KafkaResponse> {
        guard let correlationID = self.peekResponseCorrelationID(frame) else {
            throw KafkaDecodingError(.truncated, field: "header", offset: frame.readableBytes, "a response header needs 4 bytes")
                .about(apiKey, apiVersion)
        }
        let prefix = RequestHeaderPrefix(apiKey: apiKey, apiVersion: apiVersion, correlationID: correlationID)
        guard let api = APIDescriptor.lookup(apiKey) else {
            return .opaque(OpaqueFrame(reason: .unknownAPIKey, prefix: prefix, bytes: frame))
        }
        guard api.validVersions.contains(apiVersion) else {
            return .opaque(OpaqueFrame(reason: .unsupportedVersion(supported: api.validVersions), prefix: prefix, bytes: frame))
        }
        let headerVersion = api.responseHeaderVersion(apiVersion)
        var reader = WireReader(frame, origin: origin)
        do {
            let header = try self.decode(.responseHeader, version: headerVersion, from: &reader, field: "header")
            let body = try self.decode(api.response, version: apiVersion, from: &reader, field: "", elided: elided)
            try self.expectEnd(reader)
            return .message(KafkaResponse(
                apiKey: apiKey, apiVersion: apiVersion, headerVersion: headerVersion, header: header, body: body))
        } catch {
            throw error.about(apiKey, apiVersion)
        }
    }

    /// What a request frame says that metrics and reports count, read without decoding its body into values;
    /// fails where `decodeRequest` would. Nil facts for keys or versions beyond the schemas.
    public static func inspectRequest(
        _ frame: ByteBuffer
    ) throws(KafkaDecodingError) -> (header: RequestHeaderPrefix, clientID: String?, facts: MessageFacts?) {
        guard let prefix = self.peekRequestHeader(frame) else {
            throw KafkaDecodingError(.truncated, field: "header", offset: frame.readableBytes, "a request header needs 8 bytes")
        }
        guard let api = APIDescriptor.lookup(prefix.apiKey), api.validVersions.contains(prefix.apiVersion) else {
            return (prefix, nil, nil)
        }
        var reader = WireReader(frame, origin: frame.readerIndex)
        do {
            let header = try self.decode(.requestHeader, version: api.requestHeaderVersion(prefix.apiVersion), from: &reader, field: "header")
            let facts = try FactReader(plan: api.request.plan(for: prefix.apiVersion)).read(from: &reader)
            try self.expectEnd(reader)
            let clientID: String? = if case .string(let id)? = header.value("clientId", in: MessageSchema.requestHeader.body) { id } else { nil }
            return (prefix, clientID, facts)
        } catch {
            throw error.about(prefix.apiKey, prefix.apiVersion)
        }
    }

    /// What a response frame says, read as `inspectRequest` reads requests; nil for keys or versions beyond the
    /// schemas.
    public static func inspectResponse(
        _ frame: ByteBuffer, apiKey: APIKey, apiVersion: Int16
    ) throws(KafkaDecodingError) -> MessageFacts? {
        guard let api = APIDescriptor.lookup(apiKey), api.validVersions.contains(apiVersion) else { return nil }
        var reader = WireReader(frame, origin: frame.readerIndex)
        do {
            _ = try self.decode(.responseHeader, version: api.responseHeaderVersion(apiVersion), from: &reader, field: "header")
            let facts = try FactReader(plan: api.response.plan(for: apiVersion)).read(from: &reader)
            try self.expectEnd(reader)
            return facts
        } catch {
            throw error.about(apiKey, apiVersion)
        }
    }

    /// Decodes a structure of `schema` at `version` from a bare buffer (used for embedded data messages).
    public static func decode(
        _ schema: MessageSchema,
        version: Int16,
        from buffer: ByteBuffer
    ) throws(KafkaDecodingError) -> KafkaStruct {
        var reader = WireReader(buffer, origin: buffer.readerIndex)
        let value = try self.decode(schema, version: version, from: &reader, field: "")
        try self.expectEnd(reader)
        return value
    }

    private static func decode(
        _ schema: MessageSchema,
        version: Int16,
        from reader: inout WireReader,
        field: String,
        elided: ElidedRecords? = nil
    ) throws(KafkaDecodingError) -> KafkaStruct {
        do {
            return try StructDecoder(plan: schema.plan(for: version), elided: elided).readMessage(from: &reader)
        } catch {
            throw field.isEmpty ? error : error.inside(field)
        }
    }

    private static func expectEnd(_ reader: WireReader) throws(KafkaDecodingError) {
        guard reader.readableBytes == 0 else {
            throw reader.error(.trailingBytes, "\(reader.readableBytes) bytes after the message")
        }
    }

    // MARK: Encoding

    /// Encodes `schema` at `version` without a header.
    public static func encode(
        _ value: KafkaStruct,
        as schema: MessageSchema,
        version: Int16,
        into buffer: inout ByteBuffer
    ) throws(KafkaEncodingError) {
        var writer = WireWriter()
        try StructEncoder(plan: schema.plan(for: version)).writeMessage(value, into: &writer)
        writer.append(to: &buffer)
    }

    /// Encodes a request's header and body, without the size prefix.
    public static func encode(_ request: KafkaRequest, into buffer: inout ByteBuffer) throws(KafkaEncodingError) {
        guard let api = APIDescriptor.lookup(request.apiKey) else {
            throw KafkaEncodingError("no schema for API key \(request.apiKey.rawValue)")
        }
        try self.encode(request.header, as: .requestHeader, version: request.headerVersion, into: &buffer)
        try self.encode(request.body, as: api.request, version: request.apiVersion, into: &buffer)
    }

    /// Encodes a response's header and body, without the size prefix.
    public static func encode(_ response: KafkaResponse, into buffer: inout ByteBuffer) throws(KafkaEncodingError) {
        guard let api = APIDescriptor.lookup(response.apiKey) else {
            throw KafkaEncodingError("no schema for API key \(response.apiKey.rawValue)")
        }
        try self.encode(response.header, as: .responseHeader, version: response.headerVersion, into: &buffer)
        try self.encode(response.body, as: api.response, version: response.apiVersion, into: &buffer)
    }

    /// Encodes with the 4-byte size prefix, as on the wire.
    public static func encodeFrame(_ encode: (inout ByteBuffer) throws(KafkaEncodingError) -> Void) throws(KafkaEncodingError) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(0))
        try encode(&buffer)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }
}

extension OpaqueFrame {
    init(reason: Reason, prefix: RequestHeaderPrefix, bytes: ByteBuffer) {
        self.init(
            reason: reason, apiKey: prefix.apiKey, apiVersion: prefix.apiVersion, correlationID: prefix.correlationID,
            bytes: bytes)
    }
}

extension KafkaDecodingError {
    func about(_ api: APIKey, _ version: Int16) -> KafkaDecodingError {
        var copy = self
        copy.api = api
        copy.version = version
        return copy
    }
}
