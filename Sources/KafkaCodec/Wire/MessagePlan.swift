/// A message schema compiled for one version: flat arrays of plain values that the walkers index into.
///
/// The schema tables are convenient to generate and read, but walking them costs reference counting on every
/// field. A plan holds no references on the hot path, so decoding a field is a switch and a read.
final class MessagePlan: @unchecked Sendable {
    /// What a step reads or writes.
    enum Kind: UInt8 {
        case bool, int8, int16, uint16, int32, uint32, int64, float64, uuid, string, bytes, records, array, structure
    }

    /// What a field says for `MessageFacts` (see `FieldRoles`), resolved when the plan is built so that reading
    /// facts compares one byte per field.
    enum Role: UInt8 {
        case none, errorCode, throttleTimeMs, topicName, topicID, partition, records, groupID, memberID, memberEpoch
        case committedOffset, highWatermark, baseOffset, logAppendTime, listedOffset, listedTimestamp

        init(_ kind: PartitionOffset.Kind) {
            switch kind {
            case .committed: self = .committedOffset
            case .highWatermark: self = .highWatermark
            case .baseOffset: self = .baseOffset
            case .logAppendTime: self = .logAppendTime
            case .listedOffset: self = .listedOffset
            case .listedTimestamp: self = .listedTimestamp
            }
        }

        /// The offset kind of an int64 step, if it holds one.
        var offsetKind: PartitionOffset.Kind? {
            switch self {
            case .committedOffset: .committed
            case .highWatermark: .highWatermark
            case .baseOffset: .baseOffset
            case .logAppendTime: .logAppendTime
            case .listedOffset: .listedOffset
            case .listedTimestamp: .listedTimestamp
            default: nil
            }
        }
    }

    struct Step {
        /// Slot in `KafkaStruct.values`.
        var slot: Int32
        var kind: Kind
        /// For arrays: the element's kind.
        var element: Kind
        var nullable: Bool
        var compact: Bool
        /// For structures and arrays of structures: the index of the nested `Structure`.
        var structure: Int32
        var tag: UInt32
        var role: Role = .none
    }

    struct Structure {
        var inlineSteps: Range<Int>
        var taggedSteps: Range<Int>
        var fieldCount: Int
        /// For field names in errors only.
        unowned(unsafe) var schema: StructSchema
    }

    let version: Int16
    let flexible: Bool
    // Never freed: plans live as long as the schema tables, which are process-wide constants.
    let steps: UnsafeBufferPointer<Step>
    let structures: UnsafeBufferPointer<Structure>

    init(_ body: StructSchema, version: Int16, flexible: Bool) {
        self.version = version
        self.flexible = flexible
        var builder = Builder(version: version, flexible: flexible)
        _ = builder.add(body)
        self.steps = UnsafeBufferPointer(Self.copy(builder.steps))
        self.structures = UnsafeBufferPointer(Self.copy(builder.structures))
    }

    deinit {
        self.steps.deallocate()
        self.structures.deallocate()
    }

    private static func copy<T>(_ array: [T]) -> UnsafeMutableBufferPointer<T> {
        let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: max(array.count, 1))
        _ = buffer.initialize(from: array)
        return buffer
    }

    private struct Builder {
        let version: Int16
        let flexible: Bool
        var steps: [Step] = []
        var structures: [Structure] = []

        mutating func add(_ schema: StructSchema) -> Int32 {
            let index = self.structures.count
            self.structures.append(Structure(inlineSteps: 0..<0, taggedSteps: 0..<0, fieldCount: schema.fields.count, schema: schema))
            var inline: [Step] = []
            var tagged: [Step] = []
            for (slot, field) in schema.fields.enumerated() {
                if field.isTagged(at: self.version) {
                    tagged.append(self.step(field, slot: slot, compact: true, roles: schema.roles))
                } else if field.isInline(at: self.version) {
                    let compact = field.flexibleVersions.map { $0.contains(self.version) } ?? self.flexible
                    inline.append(self.step(field, slot: slot, compact: compact, roles: schema.roles))
                }
            }
            // Nested structures are added after this one's steps are known, so fix up their indices now.
            for position in inline.indices { inline[position].structure = self.nested(field: schema.fields[Int(inline[position].slot)]) }
            for position in tagged.indices { tagged[position].structure = self.nested(field: schema.fields[Int(tagged[position].slot)]) }
            let inlineStart = self.steps.count
            self.steps += inline
            let taggedStart = self.steps.count
            self.steps += tagged
            self.structures[index].inlineSteps = inlineStart..<taggedStart
            self.structures[index].taggedSteps = taggedStart..<self.steps.count
            return Int32(index)
        }

        private mutating func nested(field: FieldSchema) -> Int32 {
            switch field.type {
            case .structure(let schema), .array(.structure(let schema)): self.add(schema)
            default: -1
            }
        }

        private func step(_ field: FieldSchema, slot: Int, compact: Bool, roles: FieldRoles) -> Step {
            let element: Kind
            if case .array(let inner) = field.type { element = Self.kind(inner) } else { element = .bool }
            return Step(
                slot: Int32(slot), kind: Self.kind(field.type), element: element,
                nullable: field.nullableVersions.contains(self.version), compact: compact, structure: -1,
                tag: field.tag ?? 0, role: Self.role(of: slot, in: roles))
        }

        private static func role(of slot: Int, in roles: FieldRoles) -> Role {
            let roles: [(Int?, Role)] = [
                (roles.errorCode, .errorCode), (roles.throttleTimeMs, .throttleTimeMs), (roles.topicName, .topicName),
                (roles.topicID, .topicID), (roles.partition, .partition), (roles.records, .records),
                (roles.groupID, .groupID), (roles.memberID, .memberID), (roles.memberEpoch, .memberEpoch),
            ] + roles.offsets.map { ($0.index, Role($0.kind)) }
            return roles.first { $0.0 == slot }?.1 ?? .none
        }

        private static func kind(_ type: FieldType) -> Kind {
            switch type {
            case .bool: .bool
            case .int8: .int8
            case .int16: .int16
            case .uint16: .uint16
            case .int32: .int32
            case .uint32: .uint32
            case .int64: .int64
            case .float64: .float64
            case .uuid: .uuid
            case .string: .string
            case .bytes: .bytes
            case .records: .records
            case .array: .array
            case .structure: .structure
            }
        }
    }
}
