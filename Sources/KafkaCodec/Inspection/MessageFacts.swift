/// A topic as a message names it: by name, by id (Fetch v13+ and other newer versions), or both.
public struct TopicReference: Hashable, Sendable {
    public var name: String?
    /// Kafka's "no id" is the zero UUID, so the id is stored as one: with an optional stored here, every copy of
    /// an optional reference (several per frame) went through the generic runtime.
    @usableFromInline var storedID: KafkaUUID

    public var id: KafkaUUID? { self.storedID == .zero ? nil : self.storedID }

    public init(name: String?, id: KafkaUUID?) {
        self.name = name
        self.storedID = id ?? .zero
    }
}

extension Optional where Wrapped == TopicReference {
    /// The same test as optionals' generic `==`, which copies both operands into a pair to compare them: that cost
    /// more than the comparison, made for every partition entry that consumer lag pairs.
    @inlinable
    public static func == (lhs: Self, rhs: Self) -> Bool {
        guard let lhs else {
            if case .some = rhs { return false }
            return true
        }
        guard let rhs, lhs.storedID == rhs.storedID else { return false }
        guard let name = lhs.name else {
            if case .some = rhs.name { return false }
            return true
        }
        guard let other = rhs.name else { return false }
        return name == other
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
///
/// Made for every frame and moved along with it, so its rarely used parts sit behind one reference each
/// (`TopicListing`, `GroupListing`): a copy or drop costs a reference count per part, not per array within it.
public struct MessageFacts: Sendable {
    public var errors: [ErrorOccurrence] = []
    /// Never negative: a negative value on the wire is counted in `invalidValues` instead.
    public private(set) var throttleMilliseconds: Int32?
    public private(set) var records: [RecordTraffic] = []
    /// Per-partition offsets and times, in order: kept here rather than with the group facts, since every Produce
    /// and Fetch response states some (see `GroupFacts.swift`).
    public internal(set) var offsets: [PartitionOffset] = []
    /// Values in the message that cannot be true, and so were left out of the facts above.
    public private(set) var invalidValues = InvalidValues()
    /// Whether `topics` is filled in: summaries count topics from `records` and do not need the list, whose
    /// storage would be an allocation per message.
    public var listsTopics = true
    /// Whether the message's own tagged-field section holds anything: where KIP-951's broker endpoints travel
    /// (Produce and Fetch responses), so that a response without any needs no decoding to be rewritten.
    public internal(set) var hasTopLevelTaggedFields = false
    /// Nil until the message pairs a topic id with a name or, when `listsTopics`, names a topic.
    private var listing: TopicListing?
    /// Nil until the message names a group or member, or states a partition offset (see `GroupFacts.swift`).
    var groupListing: GroupListing?

    public init() {}

    /// Where a message's throttle time is read: from the bytes or from a decoded message.
    mutating func noteThrottle(milliseconds: Int32) {
        if milliseconds >= 0 {
            self.throttleMilliseconds = milliseconds
        } else {
            self.invalidValues.note(.throttleTime)
        }
    }

    /// Where a records field's counts join the facts.
    mutating func noteRecords(_ tally: RecordTally, topic: TopicReference?, partition: Int32?) {
        self.records.append(RecordTraffic(topic: topic, partition: partition, tally: tally))
        self.invalidValues.add(tally.invalid)
    }

    /// Topic ids paired with names, as Metadata and CreateTopics responses give them.
    public var topicNames: [KafkaUUID: String] { self.listing?.names ?? [:] }

    /// Every topic the message names, once each, in the order they appear; empty unless `listsTopics`.
    public var topics: [TopicReference] { self.listing?.topics ?? [] }

    /// Notes a topic the message names, and the id-to-name pair when both are given.
    mutating func noteTopic(name: String?, id: KafkaUUID?) -> TopicReference {
        let topic = TopicReference(name: name, id: id)
        let pairs = name != nil && id != nil
        guard pairs || self.listsTopics else { return topic }
        if self.listing == nil {
            self.listing = TopicListing()
        } else if !isKnownUniquelyReferenced(&self.listing!) {
            self.listing = self.listing!.copy()
        }
        if let name, let id { self.listing!.names[id] = name }
        if self.listsTopics { self.listing!.note(topic) }
        return topic
    }
}

/// The topics a message names and the id-to-name pairs it gives; changed only while its facts are read, by the
/// one `MessageFacts` that holds it (copied before a change otherwise).
final class TopicListing: @unchecked Sendable {
    var names: [KafkaUUID: String] = [:]
    var topics: [TopicReference] = []
    /// `topics` as a set once there are many, so that a 1,000-topic Metadata response is not searched 1,000
    /// times; below that a search is cheaper than hashing names.
    private var set: Set<TopicReference> = []

    func copy() -> TopicListing {
        let copy = TopicListing()
        copy.names = self.names
        copy.topics = self.topics
        copy.set = self.set
        return copy
    }

    func note(_ topic: TopicReference) {
        if self.topics.count < 16 {
            if !self.topics.contains(topic) { self.topics.append(topic) }
            return
        }
        if self.set.isEmpty { self.set = Set(self.topics) }
        if self.set.insert(topic).inserted { self.topics.append(topic) }
    }
}
