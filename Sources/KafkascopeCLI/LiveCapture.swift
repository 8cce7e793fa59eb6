import Foundation
import KafkaPCAP
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Reads packets from a live capture on a thread of its own (libpcap blocks) until graceful shutdown.
final class LiveCapture: Service, @unchecked Sendable {
    // @unchecked: `capture` and `options` are handed to the capture thread and used there only.
    private let capture: PacketCapture
    private let options: CaptureAnalyzer.Options
    private let logger: Logger
    private let stopping = NIOLockedValueBox(false)

    init(capture: PacketCapture, options: CaptureAnalyzer.Options, logger: Logger) {
        self.capture = capture
        self.options = options
        self.logger = logger
    }

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                Thread.detachNewThread {
                    continuation.resume(with: Result { try self.loop() })
                }
            }
        } onGracefulShutdown: {
            self.stopping.withLockedValue { $0 = true }
            self.capture.stop()
        }
    }

    private func loop() throws {
        let analyzer = CaptureAnalyzer(options: self.options) { _, _ in }
        var number = 0
        defer { analyzer.finishAll() }
        while !self.stopping.withLockedValue({ $0 }) {
            switch self.capture.next() {
            case .packet(let packet):
                number += 1
                analyzer.process(packet, linkType: self.capture.linkType, number: number)
            case .idle:
                continue
            case .end:
                return
            case .failed(let reason):
                self.logger.error("capture failed", metadata: ["error": "\(reason)"])
                throw CaptureFailed(description: reason)
            }
        }
    }
}

struct CaptureFailed: Error, CustomStringConvertible {
    var description: String
}
