import NIOCore
import NIOPosix

/// Opens the broker connection behind a client connection: over TCP in the proxy, in memory
/// (`EmbeddedProxyConnection`) when tests and fuzzers drive the real pipelines without sockets.
protocol UpstreamConnector: Sendable {
    /// Connects to `target` from `eventLoop`; `initialize` builds the new channel's pipeline before it is active.
    func connect(
        to target: HostAndPort, on eventLoop: any EventLoop, timeout: TimeAmount,
        initialize: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<any Channel>
}

struct SocketUpstreamConnector: UpstreamConnector {
    func connect(
        to target: HostAndPort, on eventLoop: any EventLoop, timeout: TimeAmount,
        initialize: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<any Channel> {
        ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: ReceiveBuffers.allocator)
            .channelInitializer(initialize)
            .connect(host: target.host, port: target.port)
    }
}
