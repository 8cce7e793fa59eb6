import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Where the proxy's exchange log goes (`--exchange-log`): one JSON line per request, in the schema of
/// `kafkascope pcap --format jsonl`, to a file that rotates past a size as `--record` does, or to stdout (`-`).
///
/// Event loops only append lines to a buffer under a lock; one serial queue owns the file and writes whatever has
/// gathered in one go, so a busy proxy makes one write for many lines and an event loop never waits for the disk.
final class ExchangeLogFile: Sendable {
    private struct File {
        var handle: FileHandle?
        var bytes = 0
        var index = 0
    }

    private struct Pending {
        var lines: [UInt8] = []
        var flushScheduled = false
    }

    let path: String
    let rotationBytes: Int?
    private let logger: Logger
    private let queue = DispatchQueue(label: "kafkascope.exchange-log")
    private let file: NIOLockedValueBox<File>
    private let pending = NIOLockedValueBox(Pending())

    init(path: String, rotationBytes: Int?, logger: Logger) throws {
        self.path = path
        self.rotationBytes = path == "-" ? nil : rotationBytes
        self.logger = logger
        self.file = NIOLockedValueBox(File(handle: try Self.open(path)))
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
        let schedule = self.pending.withLockedValue { pending in
            pending.lines.append(contentsOf: line.utf8)
            pending.lines.append(UInt8(ascii: "\n"))
            defer { pending.flushScheduled = true }
            return !pending.flushScheduled
        }
        if schedule { self.queue.async { self.flush() } }
    }

    /// On the queue: writes what has gathered, rotating past the size limit.
    private func flush() {
        let lines = self.pending.withLockedValue { pending in
            pending.flushScheduled = false
            defer { pending.lines.removeAll(keepingCapacity: pending.lines.count < 1 << 20) }
            return Data(pending.lines)
        }
        guard !lines.isEmpty else { return }
        self.file.withLockedValue { file in
            guard let handle = file.handle else { return }
            do {
                try handle.write(contentsOf: lines)
            } catch {
                self.logger.error(
                    "the exchange log failed; no more exchanges are logged",
                    metadata: ["kafkascope.exchange_log": "\(self.path)", "error": "\(error)"])
                file.handle = nil
                return
            }
            file.bytes += lines.count
            guard let limit = self.rotationBytes, file.bytes >= limit else { return }
            try? handle.close()
            file.index += 1
            file.bytes = 0
            let next = TrafficRecorder.file(self.path, index: file.index)
            file.handle = try? Self.open(next)
            if file.handle == nil {
                self.logger.error("cannot open the next exchange log file", metadata: ["kafkascope.exchange_log": "\(next)"])
            }
        }
    }

    /// Writes what is gathered, then closes the file.
    func close() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            self.queue.async {
                self.flush()
                self.file.withLockedValue { file in
                    if self.path != "-" { try? file.handle?.close() }
                    file.handle = nil
                }
                done.resume()
            }
        }
    }
}
