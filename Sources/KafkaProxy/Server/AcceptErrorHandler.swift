import KafkaProxyMetrics
import Logging
import NIOCore

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
        guard let io = error as? IOError, io.errnoCode == EMFILE || io.errnoCode == ENFILE else {
            return "accept_failed"
        }
        return "too_many_open_files"
    }
}
