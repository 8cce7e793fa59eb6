import KafkaCodec
import NIOConcurrencyHelpers

/// Topic names by id, learned from responses that give both, so that Fetch v13+ (which names topics by id only)
/// is still counted by topic name.
final class TopicDirectory: Sendable {
    private let names = NIOLockedValueBox<[KafkaUUID: String]>([:])

    /// Ids beyond this many are not learnt: responses name the topics, and a client that has the broker create
    /// topics without end must not grow the process without end. Unlearnt ids are labelled by their base64 form.
    static let capacity = 65_536

    func learn(_ pairs: [KafkaUUID: String]) {
        self.names.withLockedValue { names in
            for (id, name) in pairs where names.count < Self.capacity || names[id] != nil {
                names[id] = name
            }
        }
    }

    func name(of id: KafkaUUID) -> String? {
        self.names.withLockedValue { $0[id] }
    }
}
