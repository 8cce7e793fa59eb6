import KafkaCodec
import Testing

@testable import KafkaProxyMetrics

/// Responses teach topic names by id; a client that has the broker create topics without end must not grow the
/// process without end.
@Suite struct TopicDirectoryTests {
    @Test func learningStopsAtCapacityButKnownIdsStillChangeName() {
        let directory = TopicDirectory()
        let first = KafkaUUID(high: 0, low: 1)
        directory.learn([first: "orders"])
        var pairs: [KafkaUUID: String] = [:]
        for index in 0..<TopicDirectory.capacity { pairs[KafkaUUID(high: 1, low: UInt64(index))] = "t\(index)" }
        directory.learn(pairs)
        #expect(directory.name(of: KafkaUUID(high: 1, low: 0)) != nil)
        let late = KafkaUUID(high: 2, low: 0)
        directory.learn([late: "late", first: "orders-renamed"])
        #expect(directory.name(of: late) == nil, "beyond capacity nothing new is learnt")
        #expect(directory.name(of: first) == "orders-renamed")
    }
}
