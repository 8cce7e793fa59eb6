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
        let headerSchema = MessageSchema.requestHeader.body
        let headerVersion = api.requestHeaderVersion(version)
        var headerGenerator = SchemaValueGenerator(seed: 1, version: headerVersion, flexible: false)
        var header = headerGenerator.makeStruct(headerSchema)
        header.setValue(.int16(key.rawValue), for: "requestApiKey", in: headerSchema)
        header.setValue(.int16(version), for: "requestApiVersion", in: headerSchema)
        header.setValue(.int32(correlationID), for: "correlationId", in: headerSchema)
        header.setValue(.string("embedded-test"), for: "clientId", in: headerSchema)
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
        let headerSchema = MessageSchema.responseHeader.body
        let headerVersion = api.responseHeaderVersion(version)
        var headerGenerator = SchemaValueGenerator(seed: 1, version: headerVersion, flexible: false)
        var header = headerGenerator.makeStruct(headerSchema)
        header.setValue(.int32(correlationID), for: "correlationId", in: headerSchema)
        var generator = SchemaValueGenerator(seed: UInt64(correlationID), version: version, flexible: api.response.isFlexible(version))
        var body = generator.makeStruct(api.response.body)
        adjust(&body, api.response.body)
        let response = KafkaResponse(apiKey: key, apiVersion: version, headerVersion: headerVersion, header: header, body: body)
        return try KafkaCodec.encodeFrame { (buffer: inout ByteBuffer) throws(KafkaEncodingError) in
            try KafkaCodec.encode(response, into: &buffer)
        }
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
