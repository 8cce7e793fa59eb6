import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras

/// Writes both legs of every proxied connection to a pcap file (`--record`), rotating to a new file past a size.
///
/// The capture holds what the proxy reads and writes, so it is plaintext even when the connections use TLS; it
/// reads back with `kafkascope pcap`, tcpdump or Wireshark. Rotated files are `NAME.pcap`, `NAME.1.pcap`, ….
final class TrafficRecorder: Sendable {
    private struct State {
        var sink: NIOWritePCAPHandler.SynchronizedFileSink?
        var bytes = 0
        var index = 0
    }

    let path: String
    let rotationBytes: Int?
    /// Blank SASL tokens in what is recorded (`--record-redact-sasl`).
    let redactsSasl: Bool
    private let logger: Logger
    private let state: NIOLockedValueBox<State>

    init(path: String, rotationBytes: Int?, redactsSasl: Bool = false, logger: Logger) throws {
        self.path = path
        self.rotationBytes = rotationBytes
        self.redactsSasl = redactsSasl
        self.logger = logger
        self.state = NIOLockedValueBox(State())
        let sink = try Self.openSink(path, logger: logger)
        self.state.withLockedValue { $0.sink = sink }
    }

    /// The file of the `index`th rotation.
    static func file(_ path: String, index: Int) -> String {
        guard index > 0 else { return path }
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return "\(path).\(index)" }
        return "\(path[..<dot]).\(index)\(path[dot...])"
    }

    private static func openSink(_ path: String, logger: Logger) throws -> NIOWritePCAPHandler.SynchronizedFileSink {
        do {
            return try .fileSinkWritingToFile(path: path) { error in
                logger.error("recording failed; no more traffic is recorded", metadata: ["kafkascope.record": "\(path)", "error": "\(error)"])
            }
        } catch {
            throw RecordingError(description: "cannot record to \(path): \(error)")
        }
    }

    /// A handler to put first in a pipeline (after TLS), so it sees the bytes as they cross the socket.
    func handler(mode: NIOWritePCAPHandler.Mode) -> any ChannelHandler {
        guard self.redactsSasl else { return NIOWritePCAPHandler(mode: mode, fileSink: { buffer in self.write(buffer) }) }
        return RedactingRecordingTap(mode: mode) { local, remote in
            NIOWritePCAPHandler(mode: mode, fakeLocalAddress: local, fakeRemoteAddress: remote, fileSink: { buffer in self.write(buffer) })
        }
    }

    private func write(_ buffer: ByteBuffer) {
        let retired: NIOWritePCAPHandler.SynchronizedFileSink? = self.state.withLockedValue { state in
            state.sink?.write(buffer: buffer)
            state.bytes += buffer.readableBytes
            guard let limit = self.rotationBytes, state.bytes >= limit else { return nil }
            let old = state.sink
            state.index += 1
            state.bytes = 0
            let next = Self.file(self.path, index: state.index)
            state.sink = try? Self.openSink(next, logger: self.logger)
            if state.sink == nil { self.logger.error("cannot open the next recording file", metadata: ["kafkascope.record": "\(next)"]) }
            return old
        }
        if let retired { Task { try? await retired.close() } }
    }

    func close() async {
        let sink = self.state.withLockedValue { state in
            defer { state.sink = nil }
            return state.sink
        }
        try? await sink?.close()
    }
}

struct RecordingError: Error, CustomStringConvertible {
    var description: String
}
