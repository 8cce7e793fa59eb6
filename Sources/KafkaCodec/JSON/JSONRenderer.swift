import NIOCore

/// Renders decoded messages as JSON with the schema's field names in lowerCamelCase.
///
/// Record batches show as their decoded headers, and secret fields as `"<redacted>"`.
public enum JSONRenderer {
    public static func render(_ request: KafkaRequest) -> String {
        let body = APIDescriptor.lookup(request.apiKey)?.request
        return self.render(
            direction: "request", apiKey: request.apiKey, apiVersion: request.apiVersion,
            header: (request.header, MessageSchema.requestHeader.body), body: body.map { (request.body, $0.body) })
    }

    public static func render(_ response: KafkaResponse) -> String {
        let body = APIDescriptor.lookup(response.apiKey)?.response
        return self.render(
            direction: "response", apiKey: response.apiKey, apiVersion: response.apiVersion,
            header: (response.header, MessageSchema.responseHeader.body), body: body.map { (response.body, $0.body) })
    }

    public static func render(_ opaque: OpaqueFrame, direction: String) -> String {
        var writer = JSONWriter()
        writer.beginObject()
        self.writeIdentity(&writer, direction: direction, apiKey: opaque.apiKey, apiVersion: opaque.apiVersion)
        writer.key("opaque")
        writer.string(opaque.reason.description)
        writer.key("correlationId")
        writer.number(opaque.correlationID)
        writer.key("bytes")
        writer.number(opaque.bytes.readableBytes)
        writer.endObject()
        return writer.output
    }

    /// Renders one structure alone, for callers that embed bodies in their own documents.
    public static func render(_ value: KafkaStruct, schema: StructSchema) -> String {
        var writer = JSONWriter()
        self.writeStruct(value, schema, into: &writer)
        return writer.output
    }

    private static func render(
        direction: String,
        apiKey: APIKey,
        apiVersion: Int16,
        header: (KafkaStruct, StructSchema),
        body: (KafkaStruct, StructSchema)?
    ) -> String {
        var writer = JSONWriter()
        writer.beginObject()
        self.writeIdentity(&writer, direction: direction, apiKey: apiKey, apiVersion: apiVersion)
        writer.key("header")
        self.writeStruct(header.0, header.1, into: &writer)
        if let (value, schema) = body {
            writer.key("body")
            self.writeStruct(value, schema, into: &writer)
        }
        writer.endObject()
        return writer.output
    }

    private static func writeIdentity(_ writer: inout JSONWriter, direction: String, apiKey: APIKey, apiVersion: Int16) {
        writer.key("direction")
        writer.string(direction)
        writer.key("api")
        writer.string(apiKey.name)
        writer.key("apiKey")
        writer.number(apiKey.rawValue)
        writer.key("apiVersion")
        writer.number(apiVersion)
    }

    private static func writeStruct(_ value: KafkaStruct, _ schema: StructSchema, into writer: inout JSONWriter) {
        writer.beginObject()
        for (field, fieldValue) in zip(schema.fields, value.values) {
            guard let fieldValue else { continue }
            writer.key(field.name)
            if Redaction.isSecret(fieldName: field.name), fieldValue != .null {
                writer.string(Redaction.placeholder)
            } else {
                self.writeValue(fieldValue, field.type, into: &writer)
            }
        }
        if !value.unknownTaggedFields.isEmpty {
            writer.key("_unknownTaggedFields")
            writer.beginArray()
            for tagged in value.unknownTaggedFields {
                writer.beginObject()
                writer.key("tag")
                writer.number(tagged.tag)
                writer.key("data")
                writer.string(Base64.encode(tagged.data.readableBytesView))
                writer.endObject()
            }
            writer.endArray()
        }
        writer.endObject()
    }

    private static func writeValue(_ value: KafkaValue, _ type: FieldType, into writer: inout JSONWriter) {
        switch value {
        case .null: writer.raw("null")
        case .bool(let v): writer.raw(v ? "true" : "false")
        case .int8(let v): writer.number(v)
        case .int16(let v): writer.number(v)
        case .uint16(let v): writer.number(v)
        case .int32(let v): writer.number(v)
        case .uint32(let v): writer.number(v)
        case .int64(let v): writer.number(v)
        case .float64(let v): writer.double(v)
        case .uuid(let v): writer.string(v.base64)
        case .string(let v): writer.string(v)
        case .bytes(let v): writer.string(Base64.encode(v.readableBytesView))
        case .records(let v): self.writeRecords(v, into: &writer)
        case .array(let elements):
            let elementType: FieldType
            if case .array(let element) = type { elementType = element } else { elementType = type }
            writer.beginArray()
            for element in elements {
                self.writeValue(element, elementType, into: &writer)
            }
            writer.endArray()
        case .structure(let v):
            if case .structure(let schema) = type {
                self.writeStruct(v, schema, into: &writer)
            } else {
                writer.raw("null")
            }
        }
    }

    private static func writeRecords(_ records: ByteBuffer, into writer: inout JSONWriter) {
        let set: RecordSet
        do {
            set = try RecordBatchReader.read(records)
        } catch {
            writer.beginObject()
            writer.key("error")
            writer.string(error.description)
            writer.key("sizeInBytes")
            writer.number(records.readableBytes)
            writer.endObject()
            return
        }
        writer.beginArray()
        for entry in set.entries {
            switch entry {
            case .batch(let batch): self.writeBatch(batch, into: &writer)
            case .legacy(let message): self.writeLegacy(message, into: &writer)
            }
        }
        if set.partialTailBytes > 0 {
            writer.beginObject()
            writer.key("partialBatchBytes")
            writer.number(set.partialTailBytes)
            writer.endObject()
        }
        writer.endArray()
    }

    private static func writeBatch(_ batch: RecordBatchHeader, into writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("baseOffset"); writer.number(batch.baseOffset)
        writer.key("batchLength"); writer.number(batch.batchLength)
        writer.key("partitionLeaderEpoch"); writer.number(batch.partitionLeaderEpoch)
        writer.key("magic"); writer.number(batch.magic)
        writer.key("crc"); writer.number(batch.crc)
        writer.key("crcValid"); writer.raw(batch.crcValid ? "true" : "false")
        writer.key("compression"); writer.string(batch.compression?.name ?? "unknown")
        writer.key("timestampType"); writer.string(batch.timestampType.rawValue)
        writer.key("isTransactional"); writer.raw(batch.isTransactional ? "true" : "false")
        writer.key("isControl"); writer.raw(batch.isControl ? "true" : "false")
        writer.key("lastOffsetDelta"); writer.number(batch.lastOffsetDelta)
        writer.key("firstTimestamp"); writer.number(batch.firstTimestamp)
        writer.key("maxTimestamp"); writer.number(batch.maxTimestamp)
        writer.key("producerId"); writer.number(batch.producerID)
        writer.key("producerEpoch"); writer.number(batch.producerEpoch)
        writer.key("baseSequence"); writer.number(batch.baseSequence)
        writer.key("recordCount"); writer.number(batch.recordCount)
        writer.endObject()
    }

    private static func writeLegacy(_ message: LegacyMessageHeader, into writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("offset"); writer.number(message.offset)
        writer.key("messageSize"); writer.number(message.messageSize)
        writer.key("magic"); writer.number(message.magic)
        writer.key("crc"); writer.number(message.crc)
        writer.key("crcValid"); writer.raw(message.crcValid ? "true" : "false")
        writer.key("compression"); writer.string(message.compression?.name ?? "unknown")
        if let timestamp = message.timestamp {
            writer.key("timestamp"); writer.number(timestamp)
        }
        writer.endObject()
    }
}

extension KafkaUUID {
    /// Kafka prints UUIDs as 22 characters of URL-safe base64 without padding.
    public var base64: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        for word in [self.high, self.low] {
            for shift in stride(from: 56, through: 0, by: -8) {
                bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
            }
        }
        return Base64.encode(bytes, urlSafe: true, padded: false)
    }
}
