public import KafkaProxyMetrics
public import Logging
public import NIOCore
public import NIOEmbedded

/// One proxied connection run in memory: a client `EmbeddedChannel` and its broker `EmbeddedChannel`, joined by
/// the proxy's real pipelines and handlers. Nothing listens and nothing connects, and time passes only when told,
/// so fuzzers and tests can drive any sequence of bytes through the proxy deterministically.
///
/// Broker listeners that a rewritten response would open are taken as opened, unless `openListener` says when.
public final class EmbeddedProxyConnection {
    public let loop = EmbeddedEventLoop()
    public let client: EmbeddedChannel
    private let connector: EmbeddedUpstreamConnector

    /// The broker side, once the proxy has connected to it (at once, unless the client closed first).
    public var broker: EmbeddedChannel? { self.connector.channel }

    public init(
        configuration: ProxyConfiguration = ProxyConfiguration(
            bootstrapServers: [HostAndPort(host: "127.0.0.1", port: 9092)], listen: HostAndPort(host: "127.0.0.1", port: 19092)),
        metrics: KafkascopeMetrics,
        logger: Logger,
        openListener: (@Sendable (_ loop: any EventLoop, _ nodeID: Int32, _ port: Int) -> EventLoopFuture<Bool>)? = nil
    ) throws {
        let loop = self.loop
        self.connector = EmbeddedUpstreamConnector(loop: loop)
        let mapping = BrokerPortMapping(base: configuration.effectiveBrokerPortBase, bootstrapPort: configuration.listen.port)
        let directory = BrokerDirectory(
            portMapping: mapping, metrics: metrics, logger: logger,
            openListener: { nodeID, port in openListener?(loop, nodeID, port) ?? loop.makeSucceededFuture(true) })
        let proxy = ProxyContext(
            configuration: configuration, directory: directory,
            connections: ConnectionRegistry(maximum: configuration.maxConnections), metrics: metrics,
            readiness: Readiness(), recorder: nil, clientTLS: nil, upstreamTLS: nil, connector: self.connector,
            logger: logger)
        self.client = EmbeddedChannel(loop: loop)
        try ListenerFactory.addClientHandlers(to: self.client, route: .bootstrap, proxy: proxy)
        try self.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
        self.loop.run()
    }

    /// Bytes from the client, as one read; errors the pipeline raises (a frame too large) are the proxy's answer,
    /// not the caller's failure.
    public func clientSends(_ bytes: ByteBuffer) {
        guard self.client.isActive else { return }
        _ = try? self.client.writeInbound(bytes)
        self.loop.run()
    }

    /// Bytes from the broker, as one read.
    public func brokerSends(_ bytes: ByteBuffer) {
        guard let broker = self.broker, broker.isActive else { return }
        _ = try? broker.writeInbound(bytes)
        self.loop.run()
    }

    /// What the proxy wrote to the broker since the last call.
    public func takeSentToBroker() -> ByteBuffer {
        Self.drain(self.broker)
    }

    /// What the proxy wrote to the client since the last call.
    public func takeSentToClient() -> ByteBuffer {
        Self.drain(self.client)
    }

    /// Whether the proxy still holds the client connection open.
    public var isOpen: Bool { self.client.isActive }

    /// Lets `amount` of time pass on the loop's clock: timeouts and deadlines fire, the idle timeout included.
    public func advanceTime(by amount: TimeAmount) {
        self.loop.advanceTime(by: amount)
    }

    /// Closes both sides, as a client leaving would, and runs what that triggers.
    public func close() {
        _ = try? self.client.close().wait()
        if let broker = self.broker, broker.isActive { _ = try? broker.close().wait() }
        // A socket's close fails the writes still queued; an EmbeddedChannel's keeps them, with their promises, and
        // its pipeline no longer flushes once closed. A promise whose callback holds the client handler then keeps
        // the whole connection alive (found by the proxy fuzzer's memory growth: about one input in a hundred
        // closes with a request or response written and not yet flushed). Flushing the channels' cores completes
        // them.
        self.client._channelCore.flush0()
        self.broker?._channelCore.flush0()
        self.loop.run()
        _ = try? self.client.finish()
        _ = try? self.broker?.finish()
        try? self.loop.syncShutdownGracefully()
    }

    private static func drain(_ channel: EmbeddedChannel?) -> ByteBuffer {
        var out = ByteBuffer()
        while let part = try? channel?.readOutbound(as: ByteBuffer.self) {
            out.writeImmutableBuffer(part)
        }
        return out
    }
}

@available(*, unavailable)
extension EmbeddedProxyConnection: Sendable {}

/// Connects to a broker `EmbeddedChannel` on the connection's loop; used from that one thread only.
final class EmbeddedUpstreamConnector: UpstreamConnector, @unchecked Sendable {
    private let loop: EmbeddedEventLoop
    private(set) var channel: EmbeddedChannel?

    init(loop: EmbeddedEventLoop) {
        self.loop = loop
    }

    func connect(
        to target: HostAndPort, on eventLoop: any EventLoop, timeout: TimeAmount,
        initialize: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<any Channel> {
        let channel = EmbeddedChannel(loop: self.loop)
        self.channel = channel
        return initialize(channel).flatMap {
            channel.connect(to: try! SocketAddress(ipAddress: "127.0.0.1", port: 9092))  // any address: nothing is dialled
        }.map { channel }
    }
}
