import KafkaCodec
import NIOConcurrencyHelpers

/// Topic names by id, learned from responses that give both, so that Fetch v13+ (which names topics by id only)
/// is still counted by topic name.
final class TopicDirectory: Sendable {
    private let names = NIOLockedValueBox<[KafkaUUID: String]>([:])

    func learn(_ pairs: [KafkaUUID: String]) {
        self.names.withLockedValue { $0.merge(pairs) { _, new in new } }
    }

    func name(of id: KafkaUUID) -> String? {
        self.names.withLockedValue { $0[id] }
    }
}
