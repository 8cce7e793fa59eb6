import NIOCore

/// Walks a compiled `MessagePlan` to decode a message at one version.
struct StructDecoder {
    let plan: MessagePlan
    /// Set when decoding a `FrameSkeleton`, whose record data was cut out as it streamed past.
    var elided: ElidedRecords? = nil

    func readMessage(from reader: inout WireReader) throws(KafkaDecodingError) -> KafkaStruct {
        try self.readStruct(0, from: &reader)
    }

    private func readStruct(_ structureIndex: Int32, from reader: inout WireReader) throws(KafkaDecodingError) -> KafkaStruct {
        let structure = self.plan.structures[Int(structureIndex)]
        var values = [KafkaValue?](repeating: nil, count: structure.fieldCount)
        for position in structure.inlineSteps {
            let step = self.plan.steps[position]
            do {
                values[Int(step.slot)] = try self.readValue(step, from: &reader)
            } catch {
                throw error.inside(structure.schema.fields[Int(step.slot)].name)
            }
        }
        var unknown: [RawTaggedField] = []
        if self.plan.flexible {
            try self.readTaggedFields(structure, into: &values, unknown: &unknown, from: &reader)
        }
        return KafkaStruct(values: values, unknownTaggedFields: unknown)
    }

    private func readTaggedFields(
        _ structure: MessagePlan.Structure,
        into values: inout [KafkaValue?],
        unknown: inout [RawTaggedField],
        from reader: inout WireReader
    ) throws(KafkaDecodingError) {
        var previousTag: UInt32?
        for _ in 0..<(try reader.readTaggedFieldCount()) {
            var (tag, data) = try reader.readTaggedField(after: &previousTag)
            guard let position = structure.taggedSteps.first(where: { self.plan.steps[$0].tag == tag }) else {
                unknown.append(RawTaggedField(tag: tag, data: data.buffer))
                continue
            }
            let step = self.plan.steps[position]
            do throws(KafkaDecodingError) {
                values[Int(step.slot)] = try self.readValue(step, from: &data)
                try data.expectEnd(ofTag: tag)
            } catch {
                throw error.inside(structure.schema.fields[Int(step.slot)].name)
            }
        }
    }

    private func readValue(_ step: MessagePlan.Step, from reader: inout WireReader) throws(KafkaDecodingError) -> KafkaValue {
        switch step.kind {
        case .string, .bytes, .records, .array:
            guard let length = try self.readLength(step.kind, compact: step.compact, nullable: step.nullable, &reader)
            else { return .null }
            if step.kind == .array {
                return try self.readArray(step, count: length, from: &reader)
            }
            if step.kind == .records, let elided = self.elided {
                return try elided.records(at: reader.offset, length: length)
            }
            let slice = try reader.readSlice(length: length)
            switch step.kind {
            case .string: return .string(String(buffer: slice))
            case .records: return .records(slice)
            default: return .bytes(slice)
            }
        case .structure:
            if step.nullable {
                let marker: Int8 = try reader.readInteger()
                if marker < 0 { return .null }
            }
            return .structure(try self.readStruct(step.structure, from: &reader))
        default:
            return try self.readScalar(step.kind, from: &reader)
        }
    }

    private func readScalar(_ kind: MessagePlan.Kind, from reader: inout WireReader) throws(KafkaDecodingError) -> KafkaValue {
        switch kind {
        case .bool: return .bool(try reader.readInteger(as: UInt8.self) != 0)
        case .int8: return .int8(try reader.readInteger())
        case .int16: return .int16(try reader.readInteger())
        case .uint16: return .uint16(try reader.readInteger())
        case .int32: return .int32(try reader.readInteger())
        case .uint32: return .uint32(try reader.readInteger())
        case .int64: return .int64(try reader.readInteger())
        case .float64: return .float64(Double(bitPattern: try reader.readInteger()))
        case .uuid: return .uuid(KafkaUUID(high: try reader.readInteger(), low: try reader.readInteger()))
        case .string, .bytes, .records, .array, .structure:
            preconditionFailure("\(kind) is not a scalar")
        }
    }

    private func readArray(_ step: MessagePlan.Step, count: Int, from reader: inout WireReader) throws(KafkaDecodingError) -> KafkaValue {
        // Every element takes at least one byte unless it is a struct with nothing on the wire at this
        // version; either way a hostile count cannot make us loop or allocate without bound.
        let limit = self.canBeEmpty(step) ? Self.maximumEmptyElements : reader.readableBytes
        guard count <= limit else {
            throw reader.error(.invalidLength, "array of \(count) elements in \(reader.readableBytes) bytes")
        }
        var elements: [KafkaValue] = []
        elements.reserveCapacity(count)
        for position in 0..<count {
            do {
                switch step.element {
                case .structure:
                    elements.append(.structure(try self.readStruct(step.structure, from: &reader)))
                case .string, .bytes, .records, .array:
                    let length = try self.readLength(step.element, compact: step.compact, nullable: false, &reader) ?? 0
                    let slice = try reader.readSlice(length: length)
                    switch step.element {
                    case .string: elements.append(.string(String(buffer: slice)))
                    case .records: elements.append(.records(slice))
                    default: elements.append(.bytes(slice))
                    }
                default:
                    elements.append(try self.readScalar(step.element, from: &reader))
                }
            } catch {
                throw error.inside("[\(position)]")
            }
        }
        return .array(elements)
    }

    /// The length of a string, bytes or array (int16 for classic strings, int32 otherwise); nil for null.
    private func readLength(
        _ kind: MessagePlan.Kind,
        compact: Bool,
        nullable: Bool,
        _ reader: inout WireReader
    ) throws(KafkaDecodingError) -> Int? {
        try reader.readNullableLength(compact: compact, classicWidth: kind == .string ? 2 : 4, nullable: nullable)
    }

    private static let maximumEmptyElements = 1 << 16

    private func canBeEmpty(_ step: MessagePlan.Step) -> Bool {
        guard step.element == .structure, !self.plan.flexible else { return false }
        return self.plan.structures[Int(step.structure)].inlineSteps.isEmpty
    }
}
