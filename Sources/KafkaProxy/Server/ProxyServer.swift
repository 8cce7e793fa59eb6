import KafkaCodec
public import KafkaProxyMetrics
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOExtras
public import NIOPosix
public import ServiceLifecycle

/// The proxy as a service: a bootstrap listener plus one listener per upstream broker, opened as responses
/// name the brokers.
///
/// On graceful shutdown it stops accepting, lets in-flight requests finish for up to the drain timeout, then
/// closes what is left.
public final class ProxyServer: Service, Sendable {
    private let configuration: ProxyConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let listeners = ListenerSet()
    private let proxy: ProxyContext
    private let readiness = Readiness()

    /// Throws when `configuration.recordPath` cannot be written, or a TLS file cannot be used.
    public init(
        configuration: ProxyConfiguration,
        metrics: KafkascopeMetrics = KafkascopeMetrics(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) throws {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        // The directory opens broker listeners, whose connections need the context that holds the directory.
        let contextBox = NIOLockedValueBox<ProxyContext?>(nil)
        let listeners = self.listeners
        let mapping = BrokerPortMapping(base: configuration.effectiveBrokerPortBase, bootstrapPort: configuration.listen.port)
        let directory = BrokerDirectory(portMapping: mapping, metrics: metrics, logger: logger) { nodeID, port in
            let proxy = contextBox.withLockedValue { $0 }!
            return ListenerFactory.bind(
                host: configuration.listen.host, port: port, route: .broker(nodeID: nodeID), proxy: proxy, group: group
            ).map { channel in
                guard listeners.add(channel) else { return false }
                proxy.logger.info("broker listener open", metadata: ["kafka.node_id": "\(nodeID)", "kafka.port": "\(port)"])
                return true
            }.flatMapErrorWithEventLoop { error, eventLoop in
                proxy.metrics.listenerError(reason: "bind_failed")
                proxy.logger.error(
                    "cannot open the listener for a broker; clients told to use it will fail to connect",
                    metadata: ["kafka.node_id": "\(nodeID)", "kafka.port": "\(port)", "error": "\(error)"])
                return eventLoop.makeSucceededFuture(false)
            }
        }
        self.proxy = ProxyContext(
            configuration: configuration, directory: directory,
            connections: ConnectionRegistry(maximum: configuration.maxConnections), metrics: metrics,
            readiness: self.readiness,
            recorder: try configuration.recordPath.map {
                try TrafficRecorder(
                    path: $0, rotationBytes: configuration.recordRotationBytes, redactsSasl: configuration.recordRedactsSasl,
                    logger: logger)
            },
            exchangeLog: try configuration.exchangeLogPath.map {
                try ExchangeLogFile(path: $0, rotationBytes: configuration.exchangeLogRotationBytes, logger: logger)
            },
            clientTLS: try configuration.clientTLS.map { try ServerTLSContextStore(settings: $0, metrics: metrics, logger: logger) },
            upstreamTLS: try configuration.upstreamTLS.map { settings throws(TLSSetupError) in
                if !settings.verify {
                    logger.warning("broker certificates are NOT verified (--upstream-insecure-skip-verify): anyone between the proxy and the brokers can read and change the traffic")
                }
                return try TLSContextFactory.clientContext(settings)
            },
            logger: logger)
        contextBox.withLockedValue { $0 = self.proxy }
    }

    /// The client-facing certificate, for reloading; nil without client TLS.
    public var clientTLS: ServerTLSContextStore? { self.proxy.clientTLS }

    /// Whether the proxy listens and has reached a bootstrap broker: what `/readyz` reports.
    public var isReady: Bool { self.readiness.isReady }

    /// The addresses the listeners are bound to, bootstrap first (useful with port 0).
    public var boundAddresses: [SocketAddress] { self.listeners.boundAddresses }

    public func run() async throws {
        let bootstrap = try await ListenerFactory.bind(
            host: self.configuration.listen.host, port: self.configuration.listen.port, route: .bootstrap,
            proxy: self.proxy, group: self.group
        ).get()
        guard self.listeners.add(bootstrap) else { return }
        self.readiness.listening(true)
        let probe = Task { await self.probeBootstrap() }
        defer { probe.cancel() }
        self.logger.info(
            "listening",
            metadata: [
                "kafka.listen": "\(self.configuration.listen)",
                "kafka.bootstrap_servers": "\(self.configuration.bootstrapServers.map(\.description).joined(separator: ","))",
                "kafka.broker_port_base": "\(self.configuration.effectiveBrokerPortBase)",
            ])
        try await withGracefulShutdownHandler {
            try await bootstrap.closeFuture.get()
        } onGracefulShutdown: {
            self.logger.info("shutting down: no longer accepting connections")
            self.listeners.closeAll()
        }
        self.readiness.listening(false)
        self.listeners.closeAll()
        await self.drain()
        await self.proxy.recorder?.close()
        await self.proxy.exchangeLog?.close()
    }

    /// Connects to the bootstrap servers until one answers, so that `/readyz` turns ready before the first client
    /// arrives; client connections through the bootstrap listener also count.
    private func probeBootstrap() async {
        var attempt = 0
        while !Task.isCancelled && !self.readiness.hasReachedBroker {
            for server in self.configuration.bootstrapServers {
                let connection = ClientBootstrap(group: self.group)
                    .connectTimeout(.seconds(2))
                    .connect(host: server.host, port: server.port)
                if let channel = try? await connection.get() {
                    try? await channel.close()
                    self.readiness.brokerReached()
                    self.logger.info("bootstrap broker reachable", metadata: ["kafka.upstream": "\(server)"])
                    return
                }
            }
            attempt += 1
            if attempt == 1 || attempt % 30 == 0 {
                self.logger.warning("no bootstrap broker reachable yet; /readyz reports 503", metadata: ["kafka.attempts": "\(attempt)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    private func drain() async {
        let connections = self.proxy.connections
        let open = connections.count
        connections.drainAll()
        let deadline = ContinuousClock.now + self.configuration.drainTimeout
        while connections.count > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        // The process exits right after, before any scrape could read a counter: the log says how the drain went.
        let cut = min(open, connections.count)
        if cut > 0 {
            self.logger.notice(
                "drain timeout: closing the remaining connections", metadata: ["kafka.connections": "\(cut)", "kafka.drained": "\(open - cut)"])
            connections.closeAll()
        } else {
            self.logger.info("drained", metadata: ["kafka.connections": "\(open)"])
        }
    }
}

/// The listening channels, closed together at shutdown.
final class ListenerSet: Sendable {
    private struct State {
        var channels: [any Channel] = []
        var closed = false
    }

    private let state = NIOLockedValueBox(State())

    /// Keeps a listener; false (and the listener closed) once shutdown has begun.
    func add(_ channel: any Channel) -> Bool {
        let accepted = self.state.withLockedValue { state in
            guard !state.closed else { return false }
            state.channels.append(channel)
            return true
        }
        if !accepted { channel.close(promise: nil) }
        return accepted
    }

    func closeAll() {
        let channels = self.state.withLockedValue { state in
            state.closed = true
            defer { state.channels.removeAll() }
            return state.channels
        }
        for channel in channels { channel.close(promise: nil) }
    }

    var boundAddresses: [SocketAddress] { self.state.withLockedValue { $0.channels.compactMap(\.localAddress) } }
}

/// Binds a listener whose connections are proxied along `route`.
enum ListenerFactory {
    static func bind(
        host: String,
        port: Int,
        route: UpstreamRoute,
        proxy: ProxyContext,
        group: any EventLoopGroup
    ) -> EventLoopFuture<any Channel> {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: ReceiveBuffers.allocator)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        AcceptBackoffHandler(), AcceptErrorHandler(metrics: proxy.metrics, logger: proxy.logger),
                    ])
                }
            }
            .childChannelInitializer { channel in
                do {
                    try Self.addClientHandlers(to: channel, route: route, proxy: proxy)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: host, port: port)
    }

    /// The pipeline of one client connection, whether its channel is a socket or an `EmbeddedChannel`.
    static func addClientHandlers(to channel: any Channel, route: UpstreamRoute, proxy: ProxyContext) throws {
        try ClientTLS.addHandlers(to: channel, proxy: proxy)
        if let recorder = proxy.recorder {
            try channel.pipeline.syncOperations.addHandler(recorder.handler(mode: .server))
        }
        try channel.pipeline.syncOperations.addHandler(ClientConnectionHandler(proxy: proxy, route: route))
    }
}
