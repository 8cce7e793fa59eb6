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
        let prefix = try self.requestPrefix(frame)
        let read = try self.read(frame, origin: origin, prefix: prefix, request: true) { plan, reader throws(KafkaDecodingError) in
            try self.decode(plan.takeUnretainedValue(), from: &reader, field: "", elided: elided)
        }
        switch read {
        case .read(let headerVersion, let header, let body):
            return .message(KafkaRequest(
                apiKey: prefix.apiKey, apiVersion: prefix.apiVersion, headerVersion: headerVersion, header: header, body: body))
        case .beyondSchemas(let reason):
            return .opaque(OpaqueFrame(reason: reason, prefix: prefix, bytes: frame))
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
        let prefix = try self.responsePrefix(frame, apiKey: apiKey, apiVersion: apiVersion)
        let read = try self.read(frame, origin: origin, prefix: prefix, request: false) { plan, reader throws(KafkaDecodingError) in
            try self.decode(plan.takeUnretainedValue(), from: &reader, field: "", elided: elided)
        }
        switch read {
        case .read(let headerVersion, let header, let body):
            return .message(KafkaResponse(
                apiKey: apiKey, apiVersion: apiVersion, headerVersion: headerVersion, header: header, body: body))
        case .beyondSchemas(let reason):
            return .opaque(OpaqueFrame(reason: reason, prefix: prefix, bytes: frame))
        }
    }

    /// What a request frame says that metrics and reports count, read without decoding its body into values;
    /// fails where `decodeRequest` would. Nil facts for keys or versions beyond the schemas. `listingTopics`: see
    /// `MessageFacts.listsTopics`.
    public static func inspectRequest(
        _ frame: ByteBuffer, listingTopics: Bool = true
    ) throws(KafkaDecodingError) -> (header: RequestHeaderPrefix, clientID: ByteBuffer?, facts: MessageFacts?) {
        try self.inspectRequest(frame, listingTopics: listingTopics, elided: nil)
    }

    /// `elided`: for a skeleton, where its record data was cut out and what was counted of it.
    static func inspectRequest(
        _ frame: ByteBuffer, listingTopics: Bool, elided: ElidedTallies?
    ) throws(KafkaDecodingError) -> (header: RequestHeaderPrefix, clientID: ByteBuffer?, facts: MessageFacts?) {
        let prefix = try self.requestPrefix(frame)
        guard let (clientID, facts) = try self.inspect(
            frame, prefix: prefix, request: true, listingTopics: listingTopics, elided: elided)
        else {
            return (prefix, nil, nil)
        }
        return (prefix, clientID.flatMap { frame.getSlice(at: frame.readerIndex + $0.lowerBound, length: $0.count) }, facts)
    }

    /// What a response frame says, read as `inspectRequest` reads requests; nil for keys or versions beyond the
    /// schemas.
    public static func inspectResponse(
        _ frame: ByteBuffer, apiKey: APIKey, apiVersion: Int16, listingTopics: Bool = true
    ) throws(KafkaDecodingError) -> MessageFacts? {
        try self.inspectResponse(frame, apiKey: apiKey, apiVersion: apiVersion, listingTopics: listingTopics, elided: nil)
    }

    static func inspectResponse(
        _ frame: ByteBuffer, apiKey: APIKey, apiVersion: Int16, listingTopics: Bool, elided: ElidedTallies?
    ) throws(KafkaDecodingError) -> MessageFacts? {
        let prefix = try self.responsePrefix(frame, apiKey: apiKey, apiVersion: apiVersion)
        return try self.inspect(frame, prefix: prefix, request: false, listingTopics: listingTopics, elided: elided)?.facts
    }

    /// Reads a message's facts straight from the frame's memory (`ByteCursor`), checking it as `read` does;
    /// nil beyond the schemas.
    private static func inspect(
        _ frame: ByteBuffer, prefix: RequestHeaderPrefix, request: Bool, listingTopics: Bool, elided: ElidedTallies?
    ) throws(KafkaDecodingError) -> (clientID: Range<Int>?, facts: MessageFacts)? {
        guard case .reading(let version) = self.reach(prefix) else { return nil }
        let reader = FactReader(plan: request ? version.request : version.response, listsTopics: listingTopics, elided: elided)
        do {
            return try ByteCursor.reading(frame) { cursor throws(KafkaDecodingError) in
                var clientID: Range<Int>?
                if request {
                    clientID = try cursor.skimRequestHeader(version: version.requestHeaderVersion)
                } else {
                    try cursor.skimResponseHeader(version: version.responseHeaderVersion)
                }
                let facts = try reader.read(from: &cursor)
                try cursor.expectEnd()
                return (clientID, facts)
            }
        } catch {
            throw error.about(prefix.apiKey, prefix.apiVersion)
        }
    }

    // MARK: Reading, shared by decoding and inspection

    /// A message read as far as the schemas go.
    private enum MessageRead<Header, Body> {
        case read(headerVersion: Int16, header: Header, body: Body)
        /// The key or version is beyond the schemas.
        case beyondSchemas(OpaqueFrame.Reason)
    }

    private static func requestPrefix(_ frame: ByteBuffer) throws(KafkaDecodingError) -> RequestHeaderPrefix {
        guard let prefix = self.peekRequestHeader(frame) else {
            throw KafkaDecodingError(.truncated, field: "header", offset: frame.readableBytes, "a request header needs 8 bytes")
        }
        return prefix
    }

    private static func responsePrefix(
        _ frame: ByteBuffer, apiKey: APIKey, apiVersion: Int16
    ) throws(KafkaDecodingError) -> RequestHeaderPrefix {
        guard let correlationID = self.peekResponseCorrelationID(frame) else {
            throw KafkaDecodingError(.truncated, field: "header", offset: frame.readableBytes, "a response header needs 4 bytes")
                .about(apiKey, apiVersion)
        }
        return RequestHeaderPrefix(apiKey: apiKey, apiVersion: apiVersion, correlationID: correlationID)
    }

    /// The header at the version the API gives it, then `body` with the API's schema, then nothing after it.
    private static func read<Header, Body>(
        _ frame: ByteBuffer,
        origin: Int,
        prefix: RequestHeaderPrefix,
        request: Bool,
        header readHeader: (Int16, inout WireReader) throws(KafkaDecodingError) -> Header = Self.decodeHeader,
        body: (Unmanaged<MessagePlan>, inout WireReader) throws(KafkaDecodingError) -> Body
    ) throws(KafkaDecodingError) -> MessageRead<Header, Body> {
        let version: VersionReading
        switch self.reach(prefix) {
        case .reading(let found): version = found
        case .beyondSchemas(let reason): return .beyondSchemas(reason)
        }
        let headerVersion = request ? version.requestHeaderVersion : version.responseHeaderVersion
        var reader = WireReader(frame, origin: origin)
        do {
            let header = try readHeader(request ? headerVersion : -1 - headerVersion, &reader)
            let value = try body(request ? version.request : version.response, &reader)
            try self.expectEnd(reader)
            return .read(headerVersion: headerVersion, header: header, body: value)
        } catch {
            throw error.about(prefix.apiKey, prefix.apiVersion)
        }
    }

    private enum SchemaReach {
        case reading(VersionReading)
        case beyondSchemas(OpaqueFrame.Reason)
    }

    /// How to read the prefix's API at its version, or why the schemas do not say.
    private static func reach(_ prefix: RequestHeaderPrefix) -> SchemaReach {
        // Looked up in plain values (see `VersionReading`): no shared reference is counted per frame.
        guard let api = APIDescriptor.reading(prefix.apiKey) else { return .beyondSchemas(.unknownAPIKey) }
        guard let version = api(prefix.apiVersion) else { return .beyondSchemas(.unsupportedVersion(supported: api.versions)) }
        return .reading(version)
    }

    /// Decodes a header into values. Request header versions come as they are, response header version `v` as
    /// `-1 - v`, so that one closure type serves both directions.
    private static func decodeHeader(_ version: Int16, from reader: inout WireReader) throws(KafkaDecodingError) -> KafkaStruct {
        version >= 0
            ? try self.decode(.requestHeader, version: version, from: &reader, field: "header")
            : try self.decode(.responseHeader, version: -1 - version, from: &reader, field: "header")
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
        field: String
    ) throws(KafkaDecodingError) -> KafkaStruct {
        try self.decode(schema.plan(for: version), from: &reader, field: field)
    }

    private static func decode(
        _ plan: MessagePlan,
        from reader: inout WireReader,
        field: String,
        elided: ElidedRecords? = nil
    ) throws(KafkaDecodingError) -> KafkaStruct {
        do {
            return try StructDecoder(plan: plan, elided: elided).readMessage(from: &reader)
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
