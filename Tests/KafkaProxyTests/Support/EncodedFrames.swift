import KafkaCodec
import KafkaTestSupport
import NIOCore

/// Request and response frames, size prefix included, with generated bodies that a test adjusts where it matters.
enum EncodedFrames {
    struct MissingSchema: Error {}

    static func request(
        _ key: APIKey, _ version: Int16, correlationID: Int32, records: ByteBuffer? = nil,
        adjust: (inout KafkaStruct, StructSchema) -> Void = { _, _ in }
    ) throws -> ByteBuffer {
        guard let api = APIDescriptor.lookup(key) else { throw MissingSchema() }
        let headerVersion = api.requestHeaderVersion(version)
        let header = Self.header(MessageSchema.requestHeader.body, version: headerVersion, [
            ("requestApiKey", .int16(key.rawValue)), ("requestApiVersion", .int16(version)),
            ("correlationId", .int32(correlationID)), ("clientId", .string("embedded-test")),
        ])
        var generator = SchemaValueGenerator(seed: UInt64(correlationID), version: version, flexible: api.request.isFlexible(version))
        if let records { generator.makeRecords = { _ in records } }
        var body = generator.makeStruct(api.request.body)
        adjust(&body, api.request.body)
        let request = KafkaRequest(apiKey: key, apiVersion: version, headerVersion: headerVersion, header: header, body: body)
        return try KafkaCodec.encodeFrame { (buffer: inout ByteBuffer) throws(KafkaEncodingError) in
            try KafkaCodec.encode(request, into: &buffer)
        }
    }

    static func response(
        _ key: APIKey, _ version: Int16, correlationID: Int32, adjust: (inout KafkaStruct, StructSchema) -> Void = { _, _ in }
    ) throws -> ByteBuffer {
        guard let api = APIDescriptor.lookup(key) else { throw MissingSchema() }
        let headerVersion = api.responseHeaderVersion(version)
        let header = Self.header(MessageSchema.responseHeader.body, version: headerVersion, [("correlationId", .int32(correlationID))])
        var generator = SchemaValueGenerator(seed: UInt64(correlationID), version: version, flexible: api.response.isFlexible(version))
        var body = generator.makeStruct(api.response.body)
        adjust(&body, api.response.body)
        let response = KafkaResponse(apiKey: key, apiVersion: version, headerVersion: headerVersion, header: header, body: body)
        return try KafkaCodec.encodeFrame { (buffer: inout ByteBuffer) throws(KafkaEncodingError) in
            try KafkaCodec.encode(response, into: &buffer)
        }
    }

    private static func header(_ schema: StructSchema, version: Int16, _ values: [(String, KafkaValue)]) -> KafkaStruct {
        var generator = SchemaValueGenerator(seed: 1, version: version, flexible: false)
        var header = generator.makeStruct(schema)
        for (name, value) in values { header.setValue(value, for: name, in: schema) }
        return header
    }

    /// The correlation ids of the responses in `bytes`, in order.
    static func correlationIDs(in bytes: ByteBuffer) -> [Int32] {
        var bytes = bytes
        var ids: [Int32] = []
        while let length = bytes.readInteger(as: Int32.self), let frame = bytes.readSlice(length: Int(length)) {
            ids.append(frame.getInteger(at: frame.readerIndex, as: Int32.self) ?? -1)
        }
        return ids
    }
}
