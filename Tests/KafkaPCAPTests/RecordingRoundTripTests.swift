import Foundation
import KafkaCodec
import KafkaTestSupport
import Testing

@testable import KafkaPCAP

/// Traffic written by `NIOWritePCAPHandler` (what `proxy --record` uses) reads back, through libpcap, as the same
/// exchanges.
@Suite struct RecordingRoundTripTests {
    @Test(arguments: Fixtures.names)
    func recordedConnectionsReadBackAsTheSameExchanges(fixture: String) throws {
        let (file, expected) = try RecordedCapture.write(fixture)
        defer { try? FileManager.default.removeItem(at: file) }

        var options = CaptureAnalyzer.Options()
        options.brokerPorts = [9092]
        options.keepDecoded = true
        var seen: [(APIKey, Int16, Int32)] = []
        let analyzer = CaptureAnalyzer(options: options) { exchange, _ in
            guard exchange.unanswered == nil else { return }  // requests the recording holds no response to
            seen.append((exchange.request.header.apiKey, exchange.request.header.apiVersion, exchange.request.header.correlationID))
            #expect(exchange.response != nil, "every recorded response decodes")
        }
        #expect(try PacketCapture.open(file: file.path).linkType == 0, "NIOWritePCAPHandler writes the NULL link type")
        try RecordedCapture.analyze(file, with: analyzer)
        #expect(seen.count == expected.count)
        #expect(zip(seen, expected).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 && $0.2 == $1.2 })
        #expect(analyzer.counters.gaps == 0)
        #expect(analyzer.counters.requestMissing == 0)
        #expect(analyzer.counters.undecodable == 0)
    }

    @Test func aFileThatIsNotACaptureIsRefusedClearly() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kafkascope-\(UUID()).txt")
        try Data("hello, not a capture\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let error = #expect(throws: CaptureError.self) { try PacketCapture.open(file: file.path) }
        #expect(error?.kind == .notACapture)
        let missing = #expect(throws: CaptureError.self) { try PacketCapture.open(file: "/nonexistent/x.pcap") }
        #expect(missing?.kind == .unreadable)
    }
}
