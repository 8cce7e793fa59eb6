import Foundation

/// A one-line progress report on stderr while a large capture is read, redrawn at most a few times a second.
final class ProgressBar {
    private let enabled: Bool
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(enabled: Bool) {
        self.enabled = enabled
    }

    func update(file: String, offset: Int64?, size: Int64?) {
        guard self.enabled, let offset, let size, size > 0, Date().timeIntervalSince(self.lastDraw) > 0.25 else { return }
        self.lastDraw = Date()
        let fraction = min(1, Double(offset) / Double(size))
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let name = (file as NSString).lastPathComponent
        let line = String(format: "\r%@ [%@] %3.0f%% of %.1f MB", name, bar, fraction * 100, Double(size) / 1_000_000)
        FileHandle.standardError.write(Data(line.utf8))
        self.drawn = true
    }

    func finish() {
        guard self.drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        self.drawn = false
    }
}
