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

    init(structName: String, fields: [FieldSchema]) {
        // One pass with a switch on each name: this runs for every structure of every schema when the tables are
        // built, at start-up.
        let isTopic = Self.word("Topic", isIn: structName)
        let isPartition = Self.word("Partition", isIn: structName)
        var errorCode: Int?, throttleTimeMs: Int?, topicName: Int?, topicID: Int?, partition: Int?, records: Int?
        var groupID: Int?, memberID: Int?, memberEpoch: Int?
        var offsets: [(index: Int, kind: PartitionOffset.Kind)] = []
        func first(_ slot: inout Int?, _ position: Int, _ applies: Bool) {
            if applies && slot == nil { slot = position }
        }
        for (position, field) in fields.enumerated() {
            switch field.type {
            case .int16:
                if field.name == "errorCode" { first(&errorCode, position, true) }
            case .int32:
                switch field.name {
                case "throttleTimeMs": first(&throttleTimeMs, position, true)
                case "partitionIndex", "partition", "partitionId", "index": first(&partition, position, isPartition)
                case "memberEpoch": first(&memberEpoch, position, true)
                default: break
                }
            case .string:
                switch field.name {
                case "name", "topic", "topicName": first(&topicName, position, isTopic)
                case "groupId": first(&groupID, position, true)
                case "memberId": first(&memberID, position, true)
                default: break
                }
            case .uuid:
                if field.name == "topicId" { first(&topicID, position, isTopic) }
            case .int64:
                guard let (kind, partitionOnly) = Self.offsetKinds[field.name], !partitionOnly || isPartition,
                    !offsets.contains(where: { $0.kind == kind })
                else { break }
                offsets.append((position, kind))  // in field order, as the byte reader meets them
            case .records:
                if records == nil { records = position }
            default:
                break
            }
        }
        (self.errorCode, self.throttleTimeMs, self.topicName, self.topicID, self.partition) =
            (errorCode, throttleTimeMs, topicName, topicID, partition)
        (self.groupID, self.memberID, self.memberEpoch, self.records) = (groupID, memberID, memberEpoch, records)
        self.offsets = offsets
    }

    /// `String.contains` with a string argument goes through the generic string-processing search, which took
    /// two thirds of building every schema's roles.
    private static func word(_ word: String, isIn name: String) -> Bool {
        let (name, word) = (Array(name.utf8), Array(word.utf8))
        guard name.count >= word.count else { return false }
        return (0...(name.count - word.count)).contains { name[$0..<($0 + word.count)].elementsEqual(word) }
    }

    /// The int64 fields that are offsets or times, and whether they count only inside a partition's structure.
    private static let offsetKinds: [String: (PartitionOffset.Kind, Bool)] = [
        "committedOffset": (.committed, false), "highWatermark": (.highWatermark, true),
        "baseOffset": (.baseOffset, true), "logAppendTimeMs": (.logAppendTime, true),
        "offset": (.listedOffset, true), "timestamp": (.listedTimestamp, true),
    ]
}
