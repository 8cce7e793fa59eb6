import NIOCore

/// Why a value tree could not be encoded: it does not match the schema at the requested version.
public struct KafkaEncodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public var field: String
    public var detail: String

    @usableFromInline
    @inline(never)
    init(field: String = "", _ detail: String) {
        self.field = field
        self.detail = detail
    }

    @inline(never)
    func inside(_ name: String) -> KafkaEncodingError {
        KafkaEncodingError(field: self.field.isEmpty ? name : "\(name).\(self.field)", self.detail)
    }

    public var description: String { self.field.isEmpty ? self.detail : "field \(self.field): \(self.detail)" }
}

/// Walks a `StructSchema` table to encode a value tree at one version; the mirror of `StructDecoder`.
struct StructEncoder {
    let version: Int16
    let flexible: Bool

    func writeStruct(_ value: KafkaStruct, _ schema: StructSchema, into buffer: inout ByteBuffer) throws(KafkaEncodingError) {
        guard value.values.count == schema.fields.count else {
            throw KafkaEncodingError("\(schema.name) has \(schema.fields.count) fields, value has \(value.values.count)")
        }
        for index in schema.fields.indices {
            let field = schema.fields[index]
            guard field.isInline(at: self.version) else { continue }
            guard let fieldValue = value.values[index] else {
                throw KafkaEncodingError(field: field.name, "missing at version \(self.version)")
            }
            do {
                try self.writeValue(fieldValue, field, compact: self.isCompact(field), into: &buffer)
            } catch {
                throw error.inside(field.name)
            }
        }
        if self.flexible {
            try self.writeTaggedFields(value, schema, into: &buffer)
        }
    }

    private func isCompact(_ field: FieldSchema) -> Bool {
        field.flexibleVersions.map { $0.contains(self.version) } ?? self.flexible
    }

    private func writeTaggedFields(_ value: KafkaStruct, _ schema: StructSchema, into buffer: inout ByteBuffer) throws(KafkaEncodingError) {
        var tagged: [RawTaggedField] = value.unknownTaggedFields
        for index in schema.fields.indices {
            let field = schema.fields[index]
            guard let tag = field.tag, field.isTagged(at: self.version), let fieldValue = value.values[index] else {
                continue
            }
            var data = ByteBuffer()
            do {
                try self.writeValue(fieldValue, field, compact: true, into: &data)
            } catch {
                throw error.inside(field.name)
            }
            tagged.append(RawTaggedField(tag: tag, data: data))
        }
        // Tagged fields go out in ascending tag order (KIP-482).
        tagged.sort { $0.tag < $1.tag }
        buffer.writeUnsignedVarint(UInt32(tagged.count))
        for var field in tagged {
            buffer.writeUnsignedVarint(field.tag)
            buffer.writeUnsignedVarint(UInt32(field.data.readableBytes))
            buffer.writeBuffer(&field.data)
        }
    }

    private func writeValue(_ value: KafkaValue, _ field: FieldSchema, compact: Bool, into buffer: inout ByteBuffer) throws(KafkaEncodingError) {
        let nullable = field.nullableVersions.contains(self.version)
        try self.writeValue(value, field.type, nullable: nullable, compact: compact, into: &buffer)
    }

    private func writeValue(
        _ value: KafkaValue,
        _ type: FieldType,
        nullable: Bool,
        compact: Bool,
        into buffer: inout ByteBuffer
    ) throws(KafkaEncodingError) {
        switch (type, value) {
        case (.bool, .bool(let v)): buffer.writeInteger(UInt8(v ? 1 : 0))
        case (.int8, .int8(let v)): buffer.writeInteger(v)
        case (.int16, .int16(let v)): buffer.writeInteger(v)
        case (.uint16, .uint16(let v)): buffer.writeInteger(v)
        case (.int32, .int32(let v)): buffer.writeInteger(v)
        case (.uint32, .uint32(let v)): buffer.writeInteger(v)
        case (.int64, .int64(let v)): buffer.writeInteger(v)
        case (.float64, .float64(let v)): buffer.writeInteger(v.bitPattern)
        case (.uuid, .uuid(let v)):
            buffer.writeInteger(v.high)
            buffer.writeInteger(v.low)
        case (.string, .string(let v)):
            buffer.writeLength(v.utf8.count, compact: compact, classicWidth: 2)
            buffer.writeString(v)
        case (.bytes, .bytes(let v)), (.records, .records(let v)):
            buffer.writeLength(v.readableBytes, compact: compact, classicWidth: 4)
            buffer.writeImmutableBuffer(v)
        case (.array(let element), .array(let elements)):
            buffer.writeLength(elements.count, compact: compact, classicWidth: 4)
            for position in elements.indices {
                do {
                    try self.writeValue(elements[position], element, nullable: false, compact: compact, into: &buffer)
                } catch {
                    throw error.inside("[\(position)]")
                }
            }
        case (.structure(let schema), .structure(let v)):
            if nullable { buffer.writeInteger(Int8(1)) }
            try self.writeStruct(v, schema, into: &buffer)
        case (.string, .null), (.bytes, .null), (.records, .null), (.array, .null):
            guard nullable else { throw KafkaEncodingError("null is not allowed at version \(self.version)") }
            buffer.writeLength(-1, compact: compact, classicWidth: type.isString ? 2 : 4)
        case (.structure, .null):
            guard nullable else { throw KafkaEncodingError("null is not allowed at version \(self.version)") }
            buffer.writeInteger(Int8(-1))
        default:
            throw KafkaEncodingError("a \(value.kindName) value cannot be written as \(type)")
        }
    }
}

extension FieldType {
    fileprivate var isString: Bool {
        if case .string = self { return true }
        return false
    }
}
