/// Reads `MessageFacts` out of any decoded message by walking it along its schema's `FieldRoles`.
public enum MessageInspector {
    /// `recordTallies` are a `FrameSkeleton`'s counts, one per records field in wire order, for a body decoded from
    /// the skeleton, whose records values are empty.
    public static func facts(of body: KafkaStruct, schema: StructSchema, recordTallies: [RecordTally]? = nil) -> MessageFacts {
        var facts = MessageFacts()
        if let index = schema.roles.throttleTimeMs, case .int32(let milliseconds)? = body.values[index] {
            facts.noteThrottle(milliseconds: milliseconds)
        }
        if let index = schema.roles.memberEpoch, case .int32(let epoch)? = body.values[index] {
            facts.noteMemberEpoch(epoch)
        }
        self.walk(body, schema: schema, topic: nil, partition: nil, group: nil, into: &facts)
        if let recordTallies { facts.replaceTallies(with: recordTallies) }
        return facts
    }

    /// The facts of a decoded request, along its API's request schema; nil for a key no schema describes.
    public static func facts(of request: KafkaRequest, recordTallies: [RecordTally]? = nil) -> MessageFacts? {
        APIDescriptor.lookup(request.apiKey).map { self.facts(of: request.body, schema: $0.request.body, recordTallies: recordTallies) }
    }

    /// The facts of a decoded response, along its API's response schema; nil for a key no schema describes.
    public static func facts(of response: KafkaResponse, recordTallies: [RecordTally]? = nil) -> MessageFacts? {
        APIDescriptor.lookup(response.apiKey).map { self.facts(of: response.body, schema: $0.response.body, recordTallies: recordTallies) }
    }

    private static func walk(
        _ value: KafkaStruct,
        schema: StructSchema,
        topic inherited: TopicReference?,
        partition inheritedPartition: Int32?,
        group inheritedGroup: String?,
        into facts: inout MessageFacts
    ) {
        let roles = schema.roles
        var topic = inherited
        var partition = inheritedPartition
        var group = inheritedGroup
        // In field order, as the byte reader meets them: a group's id comes before its members and offsets.
        if let index = roles.groupID, case .string(let id)? = value.values[index] {
            group = id
            facts.noteGroup(id)
        }
        if let index = roles.memberID, case .string(let id)? = value.values[index] {
            facts.noteMember(id, group: group)
        }
        if roles.topicName != nil || roles.topicID != nil {
            let name: String? = roles.topicName.flatMap { if case .string(let name)? = value.values[$0] { name } else { nil } }
            let id: KafkaUUID? = roles.topicID.flatMap { if case .uuid(let id)? = value.values[$0], id != .zero { id } else { nil } }
            if name != nil || id != nil {
                topic = facts.noteTopic(name: name, id: id)
            }
        }
        if let index = roles.partition, case .int32(let number)? = value.values[index] {
            partition = number
        }
        for (index, kind) in roles.offsets {
            if case .int64(let offset)? = value.values[index] {
                facts.noteOffset(kind, offset, group: group, topic: topic, partition: partition)
            }
        }
        if let index = roles.errorCode, case .int16(let code)? = value.values[index], code != 0 {
            facts.errors.append(ErrorOccurrence(code: code, topic: topic, partition: partition))
        }
        if let index = roles.records, case .records(let bytes)? = value.values[index] {
            facts.noteRecords(RecordBatchReader.tally(bytes), topic: topic, partition: partition)
        }
        for index in roles.nested {
            switch (schema.fields[index].type, value.values[index]) {
            case (.structure(let nested), .structure(let child)?):
                self.walk(child, schema: nested, topic: topic, partition: partition, group: group, into: &facts)
            case (.array(.structure(let nested)), .array(let elements)?):
                for case .structure(let child) in elements {
                    self.walk(child, schema: nested, topic: topic, partition: partition, group: group, into: &facts)
                }
            default:
                continue
            }
        }
    }
}
