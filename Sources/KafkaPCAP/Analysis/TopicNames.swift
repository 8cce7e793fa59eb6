public import KafkaCodec

/// Topic names by id, learnt from the Metadata (and other) responses of a capture so far: messages of newer
/// versions (Fetch v13+) name topics by id only.
public struct TopicNames: Sendable {
    private var byID: [KafkaUUID: String] = [:]

    public init() {}

    /// A topic's name, from the message itself or from a response seen earlier.
    public func name(of topic: TopicReference) -> String? {
        topic.name ?? topic.id.flatMap { self.byID[$0] }
    }

    /// A topic as lag and per-topic metrics label it: its name, else its id in base64.
    public func label(of topic: TopicReference?) -> String {
        guard let topic else { return "" }
        return self.name(of: topic) ?? topic.id?.base64 ?? ""
    }

    mutating func learn(_ names: [KafkaUUID: String]) {
        self.byID.merge(names) { _, new in new }
    }
}
