/// The fields of one structure that say something operators count: error codes, the topic and partition they
/// belong to, throttling, and record data.
///
/// Kafka's schemas name these consistently (`errorCode`, `throttleTimeMs`, a topic's `name` or `topicId`, a
/// partition's `partitionIndex`), so reading the names once per schema covers every API and version, including
/// ones added later, without a list per message.
public struct FieldRoles: Sendable {
    public let errorCode: Int?
    public let throttleTimeMs: Int?
    public let topicName: Int?
    public let topicID: Int?
    public let partition: Int?
    public let records: Int?
    /// What consumer lag is computed from (`GroupFacts`): group and member ids, and per-partition offsets and
    /// times, again by the names every schema gives them.
    public let groupID: Int?
    public let memberID: Int?
    public let memberEpoch: Int?
    public let offsets: [(index: Int, kind: PartitionOffset.Kind)]
    /// Fields holding nested structures, which may hold more of the above.
    public let nested: [Int]

    init(structName: String, fields: [FieldSchema]) {
        func index(_ names: Set<String>, where matches: (FieldType) -> Bool) -> Int? {
            fields.firstIndex { names.contains($0.name) && matches($0.type) }
        }
        let isTopic = structName.contains("Topic")
        let isPartition = structName.contains("Partition")
        self.errorCode = index(["errorCode"]) { if case .int16 = $0 { true } else { false } }
        self.throttleTimeMs = index(["throttleTimeMs"]) { if case .int32 = $0 { true } else { false } }
        self.topicName = isTopic ? index(["name", "topic", "topicName"]) { if case .string = $0 { true } else { false } } : nil
        self.topicID = isTopic ? index(["topicId"]) { if case .uuid = $0 { true } else { false } } : nil
        self.partition = isPartition
            ? index(["partitionIndex", "partition", "partitionId", "index"]) { if case .int32 = $0 { true } else { false } }
            : nil
        let isString = { (type: FieldType) in if case .string = type { true } else { false } }
        let isInt64 = { (type: FieldType) in if case .int64 = type { true } else { false } }
        self.groupID = index(["groupId"], where: isString)
        self.memberID = index(["memberId"], where: isString)
        self.memberEpoch = index(["memberEpoch"]) { if case .int32 = $0 { true } else { false } }
        let offsetNames: [(String, PartitionOffset.Kind, Bool)] = [
            ("committedOffset", .committed, false), ("highWatermark", .highWatermark, true),
            ("baseOffset", .baseOffset, true), ("logAppendTimeMs", .logAppendTime, true),
            ("offset", .listedOffset, true), ("timestamp", .listedTimestamp, true),
        ]
        self.offsets = offsetNames.compactMap { name, kind, partitionOnly in
            guard !partitionOnly || isPartition, let position = index([name], where: isInt64) else { return nil }
            return (position, kind)
        }.sorted { $0.index < $1.index }  // field order, as the byte reader meets them
        self.records = fields.firstIndex { if case .records = $0.type { true } else { false } }
        self.nested = fields.indices.filter { position in
            switch fields[position].type {
            case .structure, .array(.structure): true
            default: false
            }
        }
    }
}
