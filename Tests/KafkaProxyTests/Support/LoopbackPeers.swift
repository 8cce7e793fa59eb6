import KafkaCodec
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Collects whole frames (size prefix included) as they arrive, for tests to wait on.
final class FrameCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let frames = NIOLockedValueBox([ByteBuffer]())
    let closed = NIOLockedValueBox(false)
    /// Answers each frame; nil sends nothing back.
    let answer: @Sendable (ByteBuffer) -> ByteBuffer?

    init(answer: @escaping @Sendable (ByteBuffer) -> ByteBuffer? = { _ in nil }) {
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        self.frames.withLockedValue { $0.append(frame) }
        if let reply = self.answer(frame) {
            context.writeAndFlush(self.wrapOutboundOut(reply), promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.closed.withLockedValue { $0 = true }
        context.fireChannelInactive()
    }

    /// Waits up to `seconds` for `count` frames.
    func waitForFrames(_ count: Int, seconds: Double = 10) async -> [ByteBuffer] {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            let frames = self.frames.withLockedValue { $0 }
            if frames.count >= count { return frames }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return self.frames.withLockedValue { $0 }
    }

    func waitForClose(seconds: Double = 10) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if self.closed.withLockedValue({ $0 }) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }
}

enum LoopbackPeers {
    static func framedPipeline(_ channel: any Channel, _ handler: FrameCollector) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandlers([
                ByteToMessageHandler(KafkaFrameDecoder(includesSizePrefix: true)), handler,
            ])
        }
    }

    /// A fake broker on an ephemeral loopback port.
    static func broker(_ handler: FrameCollector) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { self.framedPipeline($0, handler) }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    static func client(port: Int, _ handler: FrameCollector) async throws -> any Channel {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { self.framedPipeline($0, handler) }
            .connect(host: "127.0.0.1", port: port).get()
    }
}
