/// A topic as a message names it: by name, by id (Fetch v13+ and other newer versions), or both.
public struct TopicReference: Hashable, Sendable {
    public var name: String?
    public var id: KafkaUUID?

    public init(name: String?, id: KafkaUUID?) {
        self.name = name
        self.id = id
    }
}

/// A non-zero error code found in a message, with the topic and partition it is about where it is per-partition.
public struct ErrorOccurrence: Hashable, Sendable {
    public var code: Int16
    public var topic: TopicReference?
    public var partition: Int32?

    public var name: String { KafkaErrorName.of(self.code) }
}

/// The record batches one partition entry carries, counted from their headers.
public struct RecordTraffic: Hashable, Sendable {
    public var topic: TopicReference?
    public var partition: Int32?
    public var tally: RecordTally
}

/// What a decoded message says that metrics and reports count.
public struct MessageFacts: Sendable {
    public var errors: [ErrorOccurrence] = []
    public var throttleMilliseconds: Int32?
    public var records: [RecordTraffic] = []
    /// Topic ids paired with names, as Metadata and CreateTopics responses give them.
    public var topicNames: [KafkaUUID: String] = [:]
    /// Every topic the message names, once each, in the order they appear; empty unless `listsTopics`.
    public var topics: [TopicReference] = []
    /// Whether `topics` is filled in: summaries count topics from `records` and do not need the list, whose
    /// storage would be an allocation per message.
    public var listsTopics = true
    /// `topics` as a set once there are many, so that a 1,000-topic Metadata response is not searched 1,000
    /// times; below that a search is cheaper than hashing names.
    private var topicSet: Set<TopicReference> = []

    public init() {}

    /// Notes a topic the message names, and the id-to-name pair when both are given.
    mutating func noteTopic(name: String?, id: KafkaUUID?) -> TopicReference {
        let topic = TopicReference(name: name, id: id)
        if let name, let id { self.topicNames[id] = name }
        if self.listsTopics { self.note(topic) }
        return topic
    }

    private mutating func note(_ topic: TopicReference) {
        if self.topics.count < 16 {
            if !self.topics.contains(topic) { self.topics.append(topic) }
            return
        }
        if self.topicSet.isEmpty { self.topicSet = Set(self.topics) }
        if self.topicSet.insert(topic).inserted { self.topics.append(topic) }
    }
}
