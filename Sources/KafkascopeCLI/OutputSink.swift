import Foundation

/// Where a report goes: stdout or a file, written through a buffer so a million JSON lines do not mean a million
/// system calls.
final class OutputSink {
    private let handle: FileHandle
    private let ownsHandle: Bool
    private var pending = Data()

    init(path: String?) throws {
        guard let path else {
            self.handle = .standardOutput
            self.ownsHandle = false
            return
        }
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw CommandFailure("error: cannot write \(path)", exitCode: 73)
        }
        self.handle = handle
        self.ownsHandle = true
    }

    func write(_ text: String) {
        self.pending.append(contentsOf: text.utf8)
        if self.pending.count >= 1 << 16 { self.flush() }
    }

    private func flush() {
        self.handle.write(self.pending)
        self.pending.removeAll(keepingCapacity: true)
    }

    func close() throws {
        self.flush()
        if self.ownsHandle { try self.handle.close() }
    }
}
