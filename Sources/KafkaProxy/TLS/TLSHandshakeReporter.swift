import NIOCore
import NIOTLS
import NIOSSL

/// Sits right after a TLS handler: gives the handshake a deadline, and replaces the library's handshake errors
/// with a `TLSHandshakeError` that says why, so the connection handler logs and counts one clear reason.
///
/// After the handshake it drops only the "unclean shutdown" error: Kafka clients close their sockets without a
/// TLS close_notify, and that is an ordinary close, not a failure.
final class TLSHandshakeReporter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    /// How the other end is named in messages: "the client" or "the broker".
    private let peer: String
    private let timeout: TimeAmount
    /// Knows whether the peer sent anything; nil where that is not tracked (broker connections).
    private let start: ConnectionStart?
    private var deadline: Scheduled<Void>?
    private var established = false

    init(peer: String, timeout: TimeAmount, start: ConnectionStart? = nil) {
        self.peer = peer
        self.timeout = timeout
        self.start = start
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.startClock(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.startClock(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.stopClock()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.stopClock()
    }

    private func stopClock() {
        self.deadline?.cancel()
        self.deadline = nil
    }

    /// A peer that never answers the handshake (a plaintext broker reads a ClientHello as the start of a huge
    /// frame and waits for the rest) must not hold the connection forever.
    private func startClock(context: ChannelHandlerContext) {
        guard self.deadline == nil else { return }
        let peer = self.peer
        let timeout = self.timeout
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        self.deadline = context.eventLoop.scheduleTask(in: timeout) {
            bound.value.fireErrorCaught(TLSHandshakeError(
                description: "\(peer) did not complete the TLS handshake within \(timeout.nanoseconds / 1_000_000_000) s (does it speak TLS?)"))
            bound.value.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if self.established, case NIOSSLError.uncleanShutdown = error { return }
        // Connected and closed without a byte: a health check or a port probe, not a failed handshake.
        if let start = self.start, !start.peerSentBytes, Self.isTLSError(error) { return }
        guard !self.established, Self.isTLSError(error) else {
            context.fireErrorCaught(error)
            return
        }
        context.fireErrorCaught(TLSHandshakeError(description: "TLS handshake with \(self.peer) failed: \(TLSFailure.describe(error, peer: self.peer))"))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .handshakeCompleted = event as? TLSUserEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        self.established = true
        self.stopClock()
        context.fireUserInboundEventTriggered(event)
        // A client certificate is there only when mutual TLS asked for, and verified, one.
        if self.start != nil, let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
            let certificate = handler.peerCertificate, let identity = ClientCertificateIdentified(certificate)
        {
            context.fireUserInboundEventTriggered(identity)
        }
    }

    static func isTLSError(_ error: any Error) -> Bool {
        error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError
    }
}
