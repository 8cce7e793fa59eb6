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
    /// Every topic the message names, once each, in the order they appear.
    public var topics: [TopicReference] = []
    /// `topics` as a set, so that a 1,000-topic Metadata response is not searched 1,000 times.
    var topicSet: Set<TopicReference> = []

    public init() {}
}
