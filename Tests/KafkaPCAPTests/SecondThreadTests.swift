import Foundation
import KafkaCodec
import KafkaProxyMetrics
import KafkaTestSupport
import Testing

@testable import KafkaPCAP

/// Reading frames and building exchanges on a second thread gives what one thread gives, in the same order, whether
/// frames travel as copies in a batch or are read on the first thread because they are large.
@Suite struct SecondThreadTests {
    /// What an exchange handler sees, in a comparable form.
    struct Seen: Equatable {
        var key: APIKey
        var version: Int16
        var correlationID: Int32
        var clientID: String?
        var requestFacts: String
        var responseFacts: String
        var decoded: Bool
        var latency: Int64?
        var unanswered: UnansweredReason?
    }

    static func analyze(_ file: URL, configure: (inout CaptureAnalyzer.Options) -> Void) throws -> ([Seen], CaptureCounters) {
        var followed = 0
        return try Self.analyze(file, followed: &followed, configure: configure)
    }

    static func analyze(
        _ file: URL, followed: inout Int, configure: (inout CaptureAnalyzer.Options) -> Void
    ) throws -> ([Seen], CaptureCounters) {
        var options = CaptureAnalyzer.Options()
        options.brokerPorts = [9092]
        configure(&options)
        var seen: [Seen] = []
        let analyzer = CaptureAnalyzer(options: options) { exchange, _ in
            seen.append(Seen(
                key: exchange.request.header.apiKey, version: exchange.request.header.apiVersion,
                correlationID: exchange.request.header.correlationID, clientID: exchange.request.clientID,
                requestFacts: Self.describe(exchange.request.facts), responseFacts: Self.describe(exchange.responseFacts),
                decoded: exchange.response != nil, latency: exchange.latencyMicroseconds, unanswered: exchange.unanswered))
        }
        try RecordedCapture.analyze(file, with: analyzer)
        followed = analyzer.followedFrames
        return (seen, analyzer.counters)
    }

    static func describe(_ facts: MessageFacts?) -> String {
        guard let facts else { return "none" }
        return "\(facts.errors) \(facts.records) \(facts.topics) \(facts.throttleMilliseconds.map(String.init) ?? "-")"
    }

    typealias Tuning = (batchEvents: Int, largestCopiedFrame: Int, firstThreadReads: SharedReading?)

    @Test(arguments: Fixtures.names, [
        (1024, 64 << 10, nil),  // the defaults
        (3, 64 << 10, nil),  // many batches, so the worker and the reader overlap
        (5, 0, .nothing),  // every frame read on the first thread, as large frames are
        (7, 100, .nothing),  // some of each
        (4, 64 << 10, .requests),  // requests read on the first thread, responses on the second
        (4, 64 << 10, .requestsAndResponses),  // all read on the first thread, the reports made on the second
        (4, 64 << 10, .nothing),  // all read on the second
    ] as [Tuning])
    func aSecondThreadGivesTheSameExchanges(fixture: String, tuning: Tuning) throws {
        let (file, responses) = try RecordedCapture.write(fixture)
        defer { try? FileManager.default.removeItem(at: file) }
        for keepDecoded in [false, true] {
            let (one, oneCounters) = try Self.analyze(file) { $0.keepDecoded = keepDecoded }
            let (two, twoCounters) = try Self.analyze(file) {
                $0.keepDecoded = keepDecoded
                $0.secondThread = true
                $0.batchEvents = tuning.batchEvents
                $0.largestCopiedFrame = tuning.largestCopiedFrame
                $0.firstThreadReads = tuning.firstThreadReads
            }
            let answered = one.filter { $0.unanswered == nil }
            #expect(answered.count == responses.count)
            #expect(answered.allSatisfy { $0.requestFacts != "none" && $0.responseFacts != "none" }, "every frame was read")
            #expect(answered.allSatisfy { $0.decoded == keepDecoded })
            #expect(two == one)
            #expect(twoCounters.all.map(\.1) == oneCounters.all.map(\.1))
        }
    }

    /// Frames followed in parts when they span packets give the exchanges that buffering them whole gives.
    @Test(arguments: Fixtures.names, [false, true])
    func followingLargeFramesInPartsGivesTheSameExchanges(fixture: String, secondThread: Bool) throws {
        let (file, _) = try RecordedCapture.write(fixture, chunk: 1000)
        defer { try? FileManager.default.removeItem(at: file) }
        let (buffered, bufferedCounters) = try Self.analyze(file) { $0.secondThread = secondThread }
        var followed = 0
        let (streamed, streamedCounters) = try Self.analyze(file, followed: &followed) {
            $0.secondThread = secondThread
            $0.largestBufferedFrame = 0
            $0.followedFrameHead = 100  // the fixtures' frames are small
        }
        #expect(followed > 0, "some frames were followed in parts")
        #expect(streamed == buffered)
        #expect(streamedCounters.all.map(\.1) == bufferedCounters.all.map(\.1))
    }

    @Test func finishingWithNoTrafficEndsTheWorker() throws {
        var options = CaptureAnalyzer.Options()
        options.secondThread = true
        var calls = 0
        let analyzer = CaptureAnalyzer(options: options) { _, _ in calls += 1 }
        analyzer.finishAll()
        analyzer.finishAll()  // a second finish is harmless
        #expect(calls == 0)
        #expect(analyzer.counters.exchanges == 0)
    }
}
