import KafkaCodec
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import KafkaProxy

/// A client that stops reading makes the proxy stop reading from the broker, so nothing piles up in between;
/// when the client reads again, the whole response arrives.
@Suite struct BackpressureTests {
    /// Streams one large Fetch response, in 64 KiB writes, as fast as the socket accepts them.
    final class FloodingBroker: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        static let responseBytes = 48 * 1024 * 1024
        let written = NIOLockedValueBox(0)
        let blocked = NIOLockedValueBox(false)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let request = self.unwrapInboundIn(data)
            var header = ByteBuffer()
            header.writeInteger(Int32(Self.responseBytes - 4))
            header.writeInteger(request.getInteger(at: 8, as: Int32.self)!)
            context.write(self.wrapOutboundOut(header), promise: nil)
            self.written.withLockedValue { $0 = 8 }
            self.pump(context: context)
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            if context.channel.isWritable { self.pump(context: context) }
        }

        private func pump(context: ChannelHandlerContext) {
            let chunk = ByteBuffer(repeating: 0x5A, count: 64 * 1024)
            while context.channel.isWritable {
                let remaining = Self.responseBytes - self.written.withLockedValue { $0 }
                guard remaining > 0 else { break }
                let piece = chunk.getSlice(at: 0, length: min(remaining, chunk.readableBytes))!
                self.written.withLockedValue { $0 += piece.readableBytes }
                context.writeAndFlush(self.wrapOutboundOut(piece), promise: nil)
            }
            self.blocked.withLockedValue { $0 = !context.channel.isWritable }
        }
    }

    /// Counts bytes without holding them.
    final class CountingClient: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received = NIOLockedValueBox(0)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = self.unwrapInboundIn(data).readableBytes
            self.received.withLockedValue { $0 += bytes }
        }
    }

    @Test func aClientThatStopsReadingStopsTheBroker() async throws {
        let broker = FloodingBroker()
        let brokerChannel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(KafkaFrameDecoder(includesSizePrefix: true)), broker,
                    ])
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        var configuration = ProxyConfiguration(
            bootstrapServers: [HostAndPort(host: "127.0.0.1", port: brokerChannel.localAddress!.port!)],
            listen: HostAndPort(host: "127.0.0.1", port: 0))
        configuration.brokerPortBase = 40000
        let proxy = try await RunningProxy.start(configuration)
        defer { proxy.task.cancel() }

        // The client sends one Fetch v4 request and then does not read.
        let client = CountingClient()
        let clientChannel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: false)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(client) } }
            .connect(host: "127.0.0.1", port: proxy.port).get()
        var request = ByteBuffer()
        request.writeInteger(Int32(10))
        request.writeMultipleIntegers(APIKey.fetch.rawValue, Int16(4), Int32(77), Int16(-1))
        try await clientChannel.writeAndFlush(request)

        // The broker soon cannot write any more: the proxy stopped reading from it. On a loaded machine the
        // proxy's event loop can miss a 20 ms poll, so a stall counts only after 10 quiet polls in a row.
        var stalledAt = 0
        var quietPolls = 0
        for _ in 0..<500 where quietPolls < 10 {
            try await Task.sleep(for: .milliseconds(20))
            let written = broker.written.withLockedValue { $0 }
            quietPolls = broker.blocked.withLockedValue({ $0 }) && written == stalledAt ? quietPolls + 1 : 0
            stalledAt = written
        }
        try await Task.sleep(for: .milliseconds(500))
        let written = broker.written.withLockedValue { $0 }
        #expect(broker.blocked.withLockedValue { $0 }, "the broker's writes back up")
        #expect(written < FloodingBroker.responseBytes / 2, "only socket buffers' worth left the broker (\(written) bytes)")
        #expect(written == stalledAt, "and nothing more moves while the client does not read")

        // Once the client reads, the rest flows and every byte arrives.
        try await clientChannel.setOption(.autoRead, value: true).get()
        clientChannel.read()
        for _ in 0..<1000 where client.received.withLockedValue({ $0 }) < FloodingBroker.responseBytes {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(client.received.withLockedValue { $0 } == FloodingBroker.responseBytes)

        try await clientChannel.close()
        try await proxy.stop()
        try await brokerChannel.close()
    }
}
