import NIOCore
import NIOEmbedded
import NIOExtras

/// Takes the recording handler's place in a pipeline when SASL tokens must be blanked: it passes every byte on
/// untouched and hands a redacted copy to a `NIOWritePCAPHandler` of its own, kept in an `EmbeddedChannel` that
/// mirrors the connection.
final class RedactingRecordingTap: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let mode: NIOWritePCAPHandler.Mode
    private let makeRecorder: (_ local: SocketAddress?, _ remote: SocketAddress?) -> NIOWritePCAPHandler
    private var mirror: EmbeddedChannel?
    private var redactor = SaslRedactor()

    init(mode: NIOWritePCAPHandler.Mode, makeRecorder: @escaping (SocketAddress?, SocketAddress?) -> NIOWritePCAPHandler) {
        self.mode = mode
        self.makeRecorder = makeRecorder
    }

    /// On the client leg (server mode) requests come in; on the broker leg they go out.
    private var inbound: SaslRedactor.Stream { self.mode == .server ? .requests : .responses }
    private var outbound: SaslRedactor.Stream { self.mode == .server ? .responses : .requests }

    func channelActive(context: ChannelHandlerContext) {
        let mirror = EmbeddedChannel(handler: self.makeRecorder(context.localAddress, context.remoteAddress))
        mirror.pipeline.fireChannelActive()
        self.mirror = mirror
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.mirror?.pipeline.fireChannelInactive()
        _ = try? self.mirror?.finish()
        self.mirror = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let mirror = self.mirror {
            for part in self.redactor.record(self.unwrapInboundIn(data), stream: self.inbound) {
                _ = try? mirror.writeInbound(part)
                _ = try? mirror.readInbound(as: ByteBuffer.self)
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if let mirror = self.mirror, case .byteBuffer(let bytes) = self.unwrapOutboundIn(data) {
            for part in self.redactor.record(bytes, stream: self.outbound) {
                _ = try? mirror.writeOutbound(part)
                _ = try? mirror.readOutbound(as: IOData.self)
            }
        }
        context.write(data, promise: promise)
    }
}
