import Foundation
import KafkaCodec
import KafkaPCAP
import KafkaProxyMetrics
import KafkaTestSupport
import Testing

/// A request without a response is still an exchange in every report, with the reason it has none: the one a
/// user hunts for when a broker hangs.
@Suite struct UnansweredRequestTests {
    @Test(arguments: Fixtures.names, [true, false])
    func eachRequestAppearsOnceAnsweredOrNot(fixture: String, closing: Bool) throws {
        let (whole, _) = try RecordedCapture.write(fixture)
        let (cut, _) = try RecordedCapture.write(fixture, withoutLastResponse: true, closing: closing)
        defer { for file in [whole, cut] { try? FileManager.default.removeItem(at: file) } }
        for secondThread in [false, true] {
            let (all, allCounters) = try SecondThreadTests.analyze(whole) { $0.secondThread = secondThread }
            let (seen, counters) = try SecondThreadTests.analyze(cut) { $0.secondThread = secondThread }
            // The recordings end with requests whose responses were not recorded: those are unanswered already.
            let before = all.filter { $0.unanswered != nil }.count
            #expect(allCounters.unanswered == before)
            let unanswered = seen.filter { $0.unanswered != nil }.count - before
            let connections = Set(try Fixtures.frames(fixture).map(\.connection)).count

            #expect(seen.count == all.count, "every request is reported, answered or not")
            #expect(unanswered == connections, "one response left out per connection")
            #expect(counters.unanswered == before + connections)
            #expect(counters.exchanges == allCounters.exchanges - connections)
            let reason: UnansweredReason = closing ? .connectionClosed : .captureEnded
            let answeredBefore = Set(all.filter { $0.unanswered == nil }.map { "\($0.key.rawValue)/\($0.correlationID)/\($0.clientID ?? "")" })
            let cutOff = seen.filter { $0.unanswered != nil && answeredBefore.contains("\($0.key.rawValue)/\($0.correlationID)/\($0.clientID ?? "")") }
            #expect(cutOff.count == connections)
            #expect(cutOff.allSatisfy { $0.unanswered == reason && $0.latency == nil && $0.responseFacts == "none" })
            #expect(cutOff.allSatisfy { $0.requestFacts != "none" }, "the request itself was read")
            // The same requests as in the whole capture, by correlation id and key.
            let ids = { (list: [SecondThreadTests.Seen]) in list.map { "\($0.key.rawValue)/\($0.correlationID)" }.sorted() }
            #expect(ids(seen) == ids(all))
        }
    }
}
