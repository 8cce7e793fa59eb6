import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Where the proxy's exchange log goes (`--exchange-log`): one JSON line per request, in the schema of
/// `kafkascope pcap --format jsonl`, to a file that rotates past a size as `--record` does, or to stdout (`-`).
///
/// Lines are handed to one serial queue that owns the file, so an event loop never waits for the disk.
final class ExchangeLogFile: Sendable {
    private struct State {
        var handle: FileHandle?
        var bytes = 0
        var index = 0
    }

    let path: String
    let rotationBytes: Int?
    private let logger: Logger
    private let queue = DispatchQueue(label: "kafkascope.exchange-log")
    private let state: NIOLockedValueBox<State>

    init(path: String, rotationBytes: Int?, logger: Logger) throws {
        self.path = path
        self.rotationBytes = path == "-" ? nil : rotationBytes
        self.logger = logger
        self.state = NIOLockedValueBox(State(handle: try Self.open(path)))
    }

    private static func open(_ path: String) throws -> FileHandle {
        if path == "-" { return FileHandle.standardOutput }
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw RecordingError(description: "cannot write the exchange log to \(path)")
        }
        return handle
    }

    /// Appends `line` and a newline.
    func write(_ line: String) {
        let data = Data((line + "\n").utf8)
        self.queue.async {
            self.state.withLockedValue { state in
                guard let handle = state.handle else { return }
                do {
                    try handle.write(contentsOf: data)
                } catch {
                    self.logger.error(
                        "the exchange log failed; no more exchanges are logged",
                        metadata: ["kafkascope.exchange_log": "\(self.path)", "error": "\(error)"])
                    state.handle = nil
                    return
                }
                state.bytes += data.count
                guard let limit = self.rotationBytes, state.bytes >= limit else { return }
                try? handle.close()
                state.index += 1
                state.bytes = 0
                let next = TrafficRecorder.file(self.path, index: state.index)
                state.handle = try? Self.open(next)
                if state.handle == nil {
                    self.logger.error("cannot open the next exchange log file", metadata: ["kafkascope.exchange_log": "\(next)"])
                }
            }
        }
    }

    /// Writes what is queued, then closes the file.
    func close() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            self.queue.async {
                self.state.withLockedValue { state in
                    if self.path != "-" { try? state.handle?.close() }
                    state.handle = nil
                }
                done.resume()
            }
        }
    }
}
