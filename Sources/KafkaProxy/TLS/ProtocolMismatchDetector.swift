import NIOCore

/// Looks at the first bytes a client sends and refuses, with a clear reason, a TLS client on a plaintext listener
/// or a plaintext client on a TLS listener; then steps out of the pipeline.
///
/// A TLS record starts with content type 22 (handshake) and major version 3. No Kafka request can start that way:
/// its size prefix would be over 369 MB.
final class ProtocolMismatchDetector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let expectsTLS: Bool
    /// Told when the first bytes arrive, so that a connection closed before any (a health check, a port probe)
    /// is not reported as a failed handshake.
    private let start: ConnectionStart?
    /// A first read of a single byte, kept until the second byte tells.
    private var head: ByteBuffer?

    init(expectsTLS: Bool, start: ConnectionStart? = nil) {
        self.expectsTLS = expectsTLS
        self.start = start
    }

    static func looksLikeTLS(_ bytes: ByteBuffer) -> Bool? {
        guard let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) else { return nil }
        guard first == 0x16 else { return false }
        guard let second = bytes.getInteger(at: bytes.readerIndex + 1, as: UInt8.self) else { return nil }
        return second == 0x03
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        self.start?.peerSentBytes = true
        if var head = self.head {
            head.writeBuffer(&bytes)
            bytes = head
            self.head = nil
        }
        guard let isTLS = Self.looksLikeTLS(bytes) else {
            self.head = bytes
            return
        }
        if isTLS != self.expectsTLS {
            let reason = self.expectsTLS
                ? "the client speaks plaintext to a TLS listener (is its security.protocol SSL or SASL_SSL?)"
                : "the client speaks TLS to a plaintext listener (is its security.protocol PLAINTEXT or SASL_PLAINTEXT?)"
            context.fireErrorCaught(ProtocolMismatchError(description: reason))
            return
        }
        context.fireChannelRead(self.wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// A peer speaking TLS where plaintext is expected, or the other way round.
public struct ProtocolMismatchError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Whether a connection's peer has sent anything yet; shared by the handlers at the start of one pipeline, all on
/// its event loop.
final class ConnectionStart {
    var peerSentBytes = false
}
