import NIOCore

/// Walks a `StructSchema` table to decode a message at one version.
struct StructDecoder {
    let version: Int16
    /// Whether the message uses the flexible encoding (compact lengths and tagged fields) at `version`.
    let flexible: Bool

    func readStruct(_ schema: StructSchema, from reader: inout WireReader) throws(KafkaDecodingError) -> KafkaStruct {
        var values = [KafkaValue?](repeating: nil, count: schema.fields.count)
        for index in schema.fields.indices {
            let field = schema.fields[index]
            guard field.isInline(at: self.version) else { continue }
            do {
                values[index] = try self.readValue(field, compact: self.isCompact(field), from: &reader)
            } catch {
                throw error.inside(field.name)
            }
        }
        var unknown: [RawTaggedField] = []
        if self.flexible {
            try self.readTaggedFields(schema, into: &values, unknown: &unknown, from: &reader)
        }
        return KafkaStruct(values: values, unknownTaggedFields: unknown)
    }

    private func isCompact(_ field: FieldSchema) -> Bool {
        field.flexibleVersions.map { $0.contains(self.version) } ?? self.flexible
    }

    private func readTaggedFields(
        _ schema: StructSchema,
        into values: inout [KafkaValue?],
        unknown: inout [RawTaggedField],
        from reader: inout WireReader
    ) throws(KafkaDecodingError) {
        let count = try reader.readUnsignedVarint()
        guard Int(count) <= reader.readableBytes else {
            throw reader.error(.invalidLength, "\(count) tagged fields in \(reader.readableBytes) bytes")
        }
        var previousTag: UInt32?
        for _ in 0..<count {
            let tag = try reader.readUnsignedVarint()
            if let previousTag, tag <= previousTag {
                throw reader.error(.invalidTaggedField, "tag \(tag) follows tag \(previousTag)")
            }
            previousTag = tag
            let size = Int(try reader.readUnsignedVarint())
            let dataOffset = reader.buffer.readerIndex
            let data = try reader.readSlice(length: size)
            guard let index = schema.taggedFieldIndex(tag: tag, version: self.version) else {
                unknown.append(RawTaggedField(tag: tag, data: data))
                continue
            }
            let field = schema.fields[index]
            var nested = WireReader(data, origin: reader.origin - (dataOffset - data.readerIndex))
            do throws(KafkaDecodingError) {
                values[index] = try self.readValue(field, compact: true, from: &nested)
                guard nested.readableBytes == 0 else {
                    throw nested.error(.trailingBytes, "\(nested.readableBytes) bytes left in tagged field \(tag)")
                }
            } catch {
                throw error.inside(field.name)
            }
        }
    }

    private func readValue(
        _ field: FieldSchema,
        compact: Bool,
        from reader: inout WireReader
    ) throws(KafkaDecodingError) -> KafkaValue {
        let nullable = field.nullableVersions.contains(self.version)
        return try self.readValue(field.type, nullable: nullable, compact: compact, from: &reader)
    }

    private func readValue(
        _ type: FieldType,
        nullable: Bool,
        compact: Bool,
        from reader: inout WireReader
    ) throws(KafkaDecodingError) -> KafkaValue {
        switch type {
        case .bool: return .bool(try reader.readInteger(as: UInt8.self) != 0)
        case .int8: return .int8(try reader.readInteger())
        case .int16: return .int16(try reader.readInteger())
        case .uint16: return .uint16(try reader.readInteger())
        case .int32: return .int32(try reader.readInteger())
        case .uint32: return .uint32(try reader.readInteger())
        case .int64: return .int64(try reader.readInteger())
        case .float64: return .float64(Double(bitPattern: try reader.readInteger()))
        case .uuid: return .uuid(KafkaUUID(high: try reader.readInteger(), low: try reader.readInteger()))
        case .string:
            guard let length = try self.readNullableLength(nullable: nullable, compact: compact, width: 2, &reader)
            else { return .null }
            let slice = try reader.readSlice(length: length)
            return .string(String(buffer: slice))
        case .bytes, .records:
            guard let length = try self.readNullableLength(nullable: nullable, compact: compact, width: 4, &reader)
            else { return .null }
            let slice = try reader.readSlice(length: length)
            if case .records = type { return .records(slice) }
            return .bytes(slice)
        case .array(let element):
            guard let count = try self.readNullableLength(nullable: nullable, compact: compact, width: 4, &reader)
            else { return .null }
            // Every element takes at least one byte unless it is a struct with nothing on the wire at this
            // version; either way a hostile count cannot make us loop or allocate without bound.
            let limit = self.canBeEmpty(element) ? Self.maximumEmptyElements : reader.readableBytes
            guard count <= limit else {
                throw reader.error(.invalidLength, "array of \(count) elements in \(reader.readableBytes) bytes")
            }
            var elements: [KafkaValue] = []
            elements.reserveCapacity(min(count, reader.readableBytes))
            for position in 0..<count {
                do {
                    elements.append(try self.readValue(element, nullable: false, compact: compact, from: &reader))
                } catch {
                    throw error.inside("[\(position)]")
                }
            }
            return .array(elements)
        case .structure(let schema):
            if nullable {
                let marker: Int8 = try reader.readInteger()
                if marker < 0 { return .null }
            }
            return .structure(try self.readStruct(schema, from: &reader))
        }
    }

    private func readNullableLength(
        nullable: Bool,
        compact: Bool,
        width: Int,
        _ reader: inout WireReader
    ) throws(KafkaDecodingError) -> Int? {
        let length = try reader.readLength(compact: compact, classicWidth: width)
        if length == -1 {
            guard nullable else { throw reader.error(.unexpectedNull, "null in a non-nullable field") }
            return nil
        }
        guard length >= 0 else { throw reader.error(.invalidLength, "negative length \(length)") }
        return length
    }

    private static let maximumEmptyElements = 1 << 16

    private func canBeEmpty(_ type: FieldType) -> Bool {
        guard case .structure(let schema) = type, !self.flexible else { return false }
        return !schema.fields.contains { $0.isInline(at: self.version) }
    }
}
