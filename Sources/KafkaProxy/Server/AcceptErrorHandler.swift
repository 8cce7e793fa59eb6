import KafkaProxyMetrics
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Sees what a listener could not accept. Without it, a proxy out of file descriptors left new clients waiting in
/// the backlog with no word in the log or the metrics; now each failure is logged and counted
/// (`kafkascope_listener_errors_total{reason}`), while `AcceptBackoffHandler` before it pauses accepting for a moment.
final class AcceptErrorHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = any Channel

    private let metrics: KafkascopeMetrics
    private let logger: Logger

    init(metrics: KafkascopeMetrics, logger: Logger) {
        self.metrics = metrics
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let reason = Self.reason(error)
        self.metrics.listenerError(reason: reason)
        self.logger.warning(
            "a client connection could not be accepted; accepting pauses for a moment",
            metadata: ["kafka.listen": "\(context.channel.localAddress.map { "\($0)" } ?? "?")", "reason": "\(reason)", "error": "\(error)"])
        context.fireErrorCaught(error)
    }

    /// `too_many_open_files` when the process or the system is out of file descriptors, else `accept_failed`.
    static func reason(_ error: any Error) -> String {
        Self.isOutOfDescriptors(error) ? "too_many_open_files" : "accept_failed"
    }

    /// Whether the error is EMFILE or ENFILE; for a failed connection, whether any attempt failed so (a connection
    /// to a broker by name wraps the `socket()` error of each address it tried).
    static func isOutOfDescriptors(_ error: any Error) -> Bool {
        if let io = error as? IOError { return io.errnoCode == EMFILE || io.errnoCode == ENFILE }
        if let connection = error as? NIOConnectionError {
            return connection.connectionErrors.contains { Self.isOutOfDescriptors($0.error) }
        }
        return false
    }
}
