import NIOCore

/// Reads `MessageFacts` straight from a message's bytes along its compiled plan, building no values: the one
/// way facts are read, by the proxy's metrics and by capture analysis, for whole frames and for frames followed
/// in parts (`FrameSkeleton`) alike.
///
/// It reads the fields that carry facts and skips the rest, and it checks the message the way decoding would, so
/// an undecodable frame still fails.
struct FactReader {
    // The plan's tables, not the plan: plans live as long as the schema tables, which are process-wide
    // constants, and a reference to one would be counted for every message, on either thread.
    private let steps: UnsafeBufferPointer<MessagePlan.Step>
    private let structures: UnsafeBufferPointer<MessagePlan.Structure>
    private let flexible: Bool
    private let listsTopics: Bool
    /// For a skeleton: where its records fields' data was cut out, and the counts taken of it as it passed.
    private let elided: ElidedTallies?

    init(plan: Unmanaged<MessagePlan>, listsTopics: Bool, elided: ElidedTallies? = nil) {
        (self.steps, self.structures, self.flexible) = plan._withUnsafeGuaranteedRef { ($0.steps, $0.structures, $0.flexible) }
        self.listsTopics = listsTopics
        self.elided = elided
    }

    func read(from reader: inout ByteCursor) throws(KafkaDecodingError) -> MessageFacts {
        var facts = MessageFacts()
        facts.listsTopics = self.listsTopics
        try self.readStruct(0, topic: nil, partition: nil, group: nil, from: &reader, into: &facts)
        return facts
    }

    /// Moves past the data of the records field at the cursor and counts it; where a skeleton cut the data out,
    /// the count taken as it passed stands for it.
    private func records(length: Int, from reader: inout ByteCursor) throws(KafkaDecodingError) -> RecordTally {
        if let tally = self.elided?.tally(at: reader.offset) { return tally }
        return RecordBatchReader.tally(try reader.readBytes(length: length))
    }

    private func readStruct(
        _ index: Int32, topic inherited: TopicReference?, partition inheritedPartition: Int32?, group inheritedGroup: String?,
        from reader: inout ByteCursor, into facts: inout MessageFacts
    ) throws(KafkaDecodingError) {
        let structure = self.structures[Int(index)]
        var topic = inherited
        var partition = inheritedPartition
        var group = inheritedGroup
        var name: String?
        var id: KafkaUUID?
        var errorCode: Int16 = 0
        var topicSettled = false
        // The topic is noted once its name and id are both read, which schemas place before anything nested.
        func settleTopic() {
            guard !topicSettled, name != nil || id != nil else { return }
            topicSettled = true
            topic = facts.noteTopic(name: name, id: id)
        }
        // A structure's own error goes before those of what it contains, as the tree walk orders them.
        let errorsBefore = facts.errors.count
        for position in structure.inlineSteps {
            let step = self.steps[position]
            switch step.kind {
            case .bool, .int8: _ = try reader.readInteger(as: UInt8.self)
            case .int16:
                let value = try reader.readInteger(as: Int16.self)
                if step.role == .errorCode { errorCode = value }
            case .uint16: _ = try reader.readInteger(as: UInt16.self)
            case .int32:
                let value = try reader.readInteger(as: Int32.self)
                if step.role == .partition { partition = value }
                if step.role == .throttleTimeMs, index == 0 { facts.noteThrottle(milliseconds: value) }
                if step.role == .memberEpoch, index == 0 { facts.noteMemberEpoch(value) }
            case .uint32: _ = try reader.readInteger(as: UInt32.self)
            case .int64:
                let value = try reader.readInteger(as: Int64.self)
                if let kind = step.role.offsetKind {
                    settleTopic()
                    facts.noteOffset(kind, value, group: group, topic: topic, partition: partition)
                }
            case .float64: _ = try reader.readInteger(as: UInt64.self)
            case .uuid:
                let value = KafkaUUID(high: try reader.readInteger(), low: try reader.readInteger())
                if step.role == .topicID, value != .zero { id = value }
            case .string, .bytes, .records:
                guard let length = try reader.readNullableLength(
                    compact: step.compact, classicWidth: step.kind == .string ? 2 : 4, nullable: step.nullable)
                else { continue }
                if step.kind == .string, step.role == .topicName {
                    name = try reader.readText(length: length)
                } else if step.kind == .string, step.role == .groupID {
                    let text = try reader.readText(length: length)
                    group = text
                    facts.noteGroup(text)
                } else if step.kind == .string, step.role == .memberID {
                    facts.noteMember(try reader.readText(length: length), group: group)
                } else if step.kind == .records {
                    let tally = try self.records(length: length, from: &reader)
                    if step.role == .records {
                        settleTopic()
                        facts.noteRecords(tally, topic: topic, partition: partition)
                    }
                } else {
                    try reader.skip(length: length)
                }
            case .array:
                guard let count = try reader.readNullableLength(compact: step.compact, classicWidth: 4, nullable: step.nullable)
                else { continue }
                settleTopic()
                try self.readElements(step, count: count, topic: topic, partition: partition, group: group, from: &reader, into: &facts)
            case .structure:
                if step.nullable, try reader.readInteger(as: Int8.self) < 0 { continue }
                settleTopic()
                try self.readStruct(step.structure, topic: topic, partition: partition, group: group, from: &reader, into: &facts)
            }
        }
        settleTopic()
        if errorCode != 0 {
            facts.errors.insert(ErrorOccurrence(code: errorCode, topic: topic, partition: partition), at: errorsBefore)
        }
        // Nearly every structure's tagged-field section is one zero byte.
        if self.flexible, !reader.skipEmptyTaggedFields() {
            if index == 0 { facts.hasTopLevelTaggedFields = true }
            try self.checkTaggedFields(structure, from: &reader)
        }
    }

    /// Tagged fields carry no counted facts, but a known one is read as decoding reads it, so that what decoding
    /// refuses is refused here too: a frame counted as read is one `kafkascope decode` reads.
    private func checkTaggedFields(_ structure: MessagePlan.Structure, from reader: inout ByteCursor) throws(KafkaDecodingError) {
        guard !structure.taggedSteps.isEmpty else { return try reader.skipTaggedFields() }
        try reader.forEachTaggedField { tag, data throws(KafkaDecodingError) in
            guard let position = structure.taggedSteps.first(where: { self.steps[$0].tag == tag }) else { return }
            var field = ByteCursor(data)
            var ignored = MessageFacts()
            let step = self.steps[position]
            switch step.kind {
            case .array:
                guard let count = try field.readNullableLength(compact: step.compact, classicWidth: 4, nullable: step.nullable)
                else { break }
                try self.readElements(step, count: count, topic: nil, partition: nil, group: nil, from: &field, into: &ignored)
            case .structure:
                if step.nullable, try field.readInteger(as: Int8.self) < 0 { break }
                try self.readStruct(step.structure, topic: nil, partition: nil, group: nil, from: &field, into: &ignored)
            case .string, .bytes, .records:
                let width = step.kind == .string ? 2 : 4
                if let length = try field.readNullableLength(compact: step.compact, classicWidth: width, nullable: step.nullable) {
                    try field.skip(length: length)
                }
            default:
                var scalar = step
                scalar.element = step.kind
                try self.skipOrRead(scalar, topic: nil, partition: nil, group: nil, from: &field, into: &ignored)
            }
            guard field.readableBytes == 0 else {
                throw field.error(.trailingBytes, "\(field.readableBytes) bytes left in tagged field \(tag)")
            }
        }
    }

    /// The elements of an array, after its count: at most one per byte left, or 65,536 structures (which may
    /// hold nothing at some version), so that a hostile count cannot make this loop without end.
    private func readElements(
        _ step: MessagePlan.Step, count: Int, topic: TopicReference?, partition: Int32?, group: String?,
        from reader: inout ByteCursor, into facts: inout MessageFacts
    ) throws(KafkaDecodingError) {
        guard count <= max(reader.readableBytes, step.element == .structure ? 1 << 16 : 0) else {
            throw reader.error(.invalidLength, "array of \(count) elements in \(reader.readableBytes) bytes")
        }
        for _ in 0..<count {
            try self.skipOrRead(step, topic: topic, partition: partition, group: group, from: &reader, into: &facts)
        }
    }

    private func skipOrRead(
        _ step: MessagePlan.Step, topic: TopicReference?, partition: Int32?, group: String?, from reader: inout ByteCursor,
        into facts: inout MessageFacts
    ) throws(KafkaDecodingError) {
        switch step.element {
        case .structure:
            try self.readStruct(step.structure, topic: topic, partition: partition, group: group, from: &reader, into: &facts)
        case .string, .bytes, .records:
            let length = try reader.readNullableLength(compact: step.compact, classicWidth: step.element == .string ? 2 : 4, nullable: false) ?? 0
            if step.element == .records { _ = try self.records(length: length, from: &reader) } else { try reader.skip(length: length) }
        case .bool, .int8: _ = try reader.readInteger(as: UInt8.self)
        case .int16, .uint16: _ = try reader.readInteger(as: UInt16.self)
        case .int32, .uint32: _ = try reader.readInteger(as: UInt32.self)
        case .int64, .float64: _ = try reader.readInteger(as: UInt64.self)
        case .uuid: try reader.skip(length: 16)
        case .array: throw reader.error(.invalidLength, "nested arrays do not occur in Kafka schemas")
        }
    }
}
