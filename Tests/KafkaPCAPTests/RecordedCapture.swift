import Foundation
import KafkaCodec
import KafkaPCAP
import KafkaTestSupport
import NIOCore
import NIOEmbedded
import NIOExtras

/// Captures written by `NIOWritePCAPHandler` (what `proxy --record` uses) from the recorded fixture connections.
enum RecordedCapture {
    /// Writes `fixture`'s connections to a temporary capture, each frame in one packet or in packets of at most
    /// `chunk` bytes; also returns key, version and correlation id of every response, in capture order.
    /// `withoutLastResponse`: each connection's last response is left out, and the connection is closed (FIN)
    /// only when `closing`, as if the capture had ended first otherwise.
    static func write(
        _ fixture: String, chunk: Int? = nil, withoutLastResponse: Bool = false, closing: Bool = true
    ) throws -> (file: URL, responses: [(APIKey, Int16, Int32)]) {
        let frames = try Fixtures.frames(fixture)
        let connections = Set(frames.map(\.connection)).sorted()
        var records = ByteBuffer()
        records.writeImmutableBuffer(NIOWritePCAPHandler.pcapFileHeader)
        var responses: [(APIKey, Int16, Int32)] = []
        for (index, connection) in connections.enumerated() {
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(NIOWritePCAPHandler(
                mode: .server,
                fakeLocalAddress: try SocketAddress(ipAddress: "10.0.0.1", port: 9092),
                fakeRemoteAddress: try SocketAddress(ipAddress: "10.0.0.2", port: 40000 + index),
                fileSink: { records.writeImmutableBuffer($0) }))
            try channel.connect(to: SocketAddress(ipAddress: "10.0.0.1", port: 9092)).wait()
            let own = frames.filter { $0.connection == connection }
            let lastResponse = own.lastIndex { if case .response = $0.kind { true } else { false } }
            for (position, frame) in own.enumerated() where !(withoutLastResponse && position == lastResponse) {
                switch frame.kind {
                case .request:
                    for part in Self.parts(frame.bytes, chunk: chunk) {
                        try channel.writeInbound(part)
                        _ = try channel.readInbound(as: ByteBuffer.self)
                    }
                case .response(let key, let version):
                    for part in Self.parts(frame.bytes, chunk: chunk) {
                        try channel.writeOutbound(part)
                        _ = try channel.readOutbound(as: ByteBuffer.self)
                    }
                    responses.append((key, version, frame.payload.getInteger(at: frame.payload.readerIndex, as: Int32.self)!))
                }
            }
            if closing { _ = try channel.finish() }
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kafkascope-\(UUID()).pcap")
        try Data(records.readableBytesView).write(to: file)
        return (file, responses)
    }

    private static func parts(_ bytes: ByteBuffer, chunk: Int?) -> [ByteBuffer] {
        guard let chunk else { return [bytes] }
        return stride(from: 0, to: bytes.readableBytes, by: chunk).map {
            bytes.getSlice(at: bytes.readerIndex + $0, length: min(chunk, bytes.readableBytes - $0))!
        }
    }

    /// Feeds every packet of `file` to `analyzer`, then finishes it.
    static func analyze(_ file: URL, with analyzer: CaptureAnalyzer) throws {
        let capture = try PacketCapture.open(file: file.path)
        var number = 0
        while case .packet(let packet) = capture.next() {
            number += 1
            analyzer.process(packet, linkType: capture.linkType, number: number)
        }
        analyzer.finishAll()
    }
}
