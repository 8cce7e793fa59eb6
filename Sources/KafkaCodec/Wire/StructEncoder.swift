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
        let separator = self.field.hasPrefix("[") ? "" : "."
        return KafkaEncodingError(field: self.field.isEmpty ? name : "\(name)\(separator)\(self.field)", self.detail)
    }

    public var description: String { self.field.isEmpty ? self.detail : "field \(self.field): \(self.detail)" }
}

/// Walks a compiled `MessagePlan` to encode a value tree at one version; the mirror of `StructDecoder`.
struct StructEncoder {
    let plan: MessagePlan

    func writeMessage(_ value: KafkaStruct, into buffer: inout WireWriter) throws(KafkaEncodingError) {
        try self.writeStruct(value, 0, into: &buffer)
    }

    private func writeStruct(_ value: KafkaStruct, _ structureIndex: Int32, into buffer: inout WireWriter) throws(KafkaEncodingError) {
        let structure = self.plan.structures[Int(structureIndex)]
        guard value.values.count == structure.fieldCount else {
            throw KafkaEncodingError("\(structure.schema.name) has \(structure.fieldCount) fields, value has \(value.values.count)")
        }
        for position in structure.inlineSteps {
            let step = self.plan.steps[position]
            do throws(KafkaEncodingError) {
                guard let fieldValue = value.values[Int(step.slot)] else {
                    throw KafkaEncodingError("missing at version \(self.plan.version)")
                }
                try self.writeValue(fieldValue, step, into: &buffer)
            } catch {
                throw error.inside(structure.schema.fields[Int(step.slot)].name)
            }
        }
        if self.plan.flexible {
            try self.writeTaggedFields(value, structure, into: &buffer)
        }
    }

    private func writeTaggedFields(_ value: KafkaStruct, _ structure: MessagePlan.Structure, into buffer: inout WireWriter) throws(KafkaEncodingError) {
        if structure.taggedSteps.isEmpty && value.unknownTaggedFields.isEmpty {
            buffer.writeInteger(UInt8(0))  // the common case, without touching an array
            return
        }
        var tagged: [RawTaggedField] = value.unknownTaggedFields
        for position in structure.taggedSteps {
            let step = self.plan.steps[position]
            guard let fieldValue = value.values[Int(step.slot)] else { continue }
            var data = WireWriter(capacity: 64)
            do {
                try self.writeValue(fieldValue, step, into: &data)
            } catch {
                throw error.inside(structure.schema.fields[Int(step.slot)].name)
            }
            tagged.append(RawTaggedField(tag: step.tag, data: data.byteBuffer))
        }
        buffer.writeTaggedFields(tagged)
    }

    private func writeValue(_ value: KafkaValue, _ step: MessagePlan.Step, into buffer: inout WireWriter) throws(KafkaEncodingError) {
        switch (step.kind, value) {
        case (.array, .array(let elements)):
            buffer.writeLength(elements.count, compact: step.compact, classicWidth: 4)
            for position in elements.indices {
                do {
                    try self.writeElement(elements[position], step, into: &buffer)
                } catch {
                    throw error.inside("[\(position)]")
                }
            }
        case (.structure, .structure(let nested)):
            if step.nullable { buffer.writeInteger(Int8(1)) }
            try self.writeStruct(nested, step.structure, into: &buffer)
        case (.structure, .null):
            guard step.nullable else { throw KafkaEncodingError("null is not allowed at version \(self.plan.version)") }
            buffer.writeInteger(Int8(-1))
        case (.string, .null), (.bytes, .null), (.records, .null), (.array, .null):
            guard step.nullable else { throw KafkaEncodingError("null is not allowed at version \(self.plan.version)") }
            buffer.writeLength(-1, compact: step.compact, classicWidth: step.kind == .string ? 2 : 4)
        default:
            try self.writeScalar(value, step.kind, compact: step.compact, into: &buffer)
        }
    }

    private func writeElement(_ value: KafkaValue, _ step: MessagePlan.Step, into buffer: inout WireWriter) throws(KafkaEncodingError) {
        if step.element == .structure {
            guard case .structure(let nested) = value else {
                throw KafkaEncodingError("a \(value.kindName) value cannot be an element of a struct array")
            }
            try self.writeStruct(nested, step.structure, into: &buffer)
        } else {
            try self.writeScalar(value, step.element, compact: step.compact, into: &buffer)
        }
    }

    /// Fixed-width values, and strings and bytes that are not null.
    private func writeScalar(_ value: KafkaValue, _ kind: MessagePlan.Kind, compact: Bool, into buffer: inout WireWriter) throws(KafkaEncodingError) {
        switch (kind, value) {
        case (.bool, .bool(let v)): buffer.writeInteger(UInt8(v ? 1 : 0))
        case (.int8, .int8(let v)): buffer.writeInteger(v)
        case (.int16, .int16(let v)): buffer.writeInteger(v)
        case (.uint16, .uint16(let v)): buffer.writeInteger(v)
        case (.int32, .int32(let v)): buffer.writeInteger(v)
        case (.uint32, .uint32(let v)): buffer.writeInteger(v)
        case (.int64, .int64(let v)): buffer.writeInteger(v)
        case (.float64, .float64(let v)): buffer.writeInteger(v.bitPattern)
        case (.uuid, .uuid(let v)): buffer.writeMultipleIntegers(v.high, v.low)
        case (.string, .string(let v)):
            buffer.writeLength(v.utf8.count, compact: compact, classicWidth: 2)
            buffer.writeString(v)
        case (.bytes, .bytes(let v)), (.records, .records(let v)):
            buffer.writeLength(v.readableBytes, compact: compact, classicWidth: 4)
            buffer.writeImmutableBuffer(v)
        default:
            throw KafkaEncodingError("a \(value.kindName) value cannot be written as \(kind)")
        }
    }
}
