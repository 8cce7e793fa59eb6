import KafkaCodec
import Testing

@testable import KafkaPCAP

@Suite struct TopicNamesTests {
    @Test func namesComeFromTheMessageOrFromWhatWasLearnt() {
        let id = KafkaUUID(high: 1, low: 2)
        var names = TopicNames()
        #expect(names.name(of: TopicReference(name: nil, id: id)) == nil, "nothing learnt yet")
        names.learn([id: "orders"])
        #expect(names.name(of: TopicReference(name: nil, id: id)) == "orders")
        #expect(names.name(of: TopicReference(name: "named", id: id)) == "named", "the message's own name wins")
        names.learn([id: "renamed"])
        #expect(names.name(of: TopicReference(name: nil, id: id)) == "renamed", "a later response replaces the name")
        #expect(names.name(of: TopicReference(name: nil, id: KafkaUUID(high: 3, low: 4))) == nil)
    }
}
