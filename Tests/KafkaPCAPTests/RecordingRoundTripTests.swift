import Foundation
import KafkaCodec
import KafkaTestSupport
import NIOCore
import NIOEmbedded
import NIOExtras
import Testing

@testable import KafkaPCAP

/// Traffic written by `NIOWritePCAPHandler` (what `proxy --record` uses) reads back, through libpcap, as the same
/// exchanges.
@Suite struct RecordingRoundTripTests {
    @Test(arguments: Fixtures.names)
    func recordedConnectionsReadBackAsTheSameExchanges(fixture: String) throws {
        let frames = try Fixtures.frames(fixture)
        let connections = Set(frames.map(\.connection)).sorted()
        var records = ByteBuffer()
        records.writeImmutableBuffer(NIOWritePCAPHandler.pcapFileHeader)
        var expected: [(APIKey, Int16, Int32)] = []
        for (index, connection) in connections.enumerated() {
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(NIOWritePCAPHandler(
                mode: .server,
                fakeLocalAddress: try SocketAddress(ipAddress: "10.0.0.1", port: 9092),
                fakeRemoteAddress: try SocketAddress(ipAddress: "10.0.0.2", port: 40000 + index),
                fileSink: { records.writeImmutableBuffer($0) }))
            try channel.connect(to: SocketAddress(ipAddress: "10.0.0.1", port: 9092)).wait()
            for frame in frames where frame.connection == connection {
                switch frame.kind {
                case .request:
                    try channel.writeInbound(frame.bytes)
                    _ = try channel.readInbound(as: ByteBuffer.self)
                case .response(let key, let version):
                    try channel.writeOutbound(frame.bytes)
                    _ = try channel.readOutbound(as: ByteBuffer.self)
                    expected.append((key, version, frame.payload.getInteger(at: frame.payload.readerIndex, as: Int32.self)!))
                }
            }
            _ = try channel.finish()
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kafkascope-\(UUID()).pcap")
        try Data(records.readableBytesView).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }

        var options = CaptureAnalyzer.Options()
        options.brokerPorts = [9092]
        options.keepDecoded = true
        var seen: [(APIKey, Int16, Int32)] = []
        let analyzer = CaptureAnalyzer(options: options) { exchange in
            seen.append((exchange.request.header.apiKey, exchange.request.header.apiVersion, exchange.request.header.correlationID))
            #expect(exchange.response != nil, "every recorded response decodes")
        }
        let capture = try PacketCapture.open(file: file.path)
        #expect(capture.linkType == 0, "NIOWritePCAPHandler writes the NULL link type")
        var number = 0
        while case .packet(let packet) = capture.next() {
            number += 1
            analyzer.process(packet, linkType: capture.linkType, number: number)
        }
        analyzer.finishAll()
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
