public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle

/// The HTTP endpoint Prometheus scrapes, run as a service next to the proxy.
///
/// It has an event loop of its own, so a slow or hostile HTTP client can delay only other scrapes, never proxied
/// traffic; stalled requests are cut after `requestTimeout`, and at most `maximumConnections` are served at once.
public final class MetricsEndpoint: Service, Sendable {
    public static let defaultPort = 9464
    static let requestTimeout = TimeAmount.seconds(10)
    static let maximumConnections = 64

    private let host: String
    private let port: Int
    private let metrics: KafkascopeMetrics
    private let isReady: @Sendable () -> Bool
    /// Adds handlers that go first in each connection's pipeline: TLS, when the endpoint serves it.
    private let prepare: (@Sendable (any Channel) throws -> Void)?
    private let logger: Logger

    public init(
        host: String, port: Int, metrics: KafkascopeMetrics, logger: Logger,
        prepare: (@Sendable (any Channel) throws -> Void)? = nil, isReady: @escaping @Sendable () -> Bool
    ) {
        self.host = host
        self.port = port
        self.metrics = metrics
        self.logger = logger
        self.prepare = prepare
        self.isReady = isReady
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let metrics = self.metrics
        let isReady = self.isReady
        let prepare = self.prepare
        let open = ConnectionBudget()
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 32)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    guard open.enter(limit: Self.maximumConnections) else { return channel.close() }
                    channel.closeFuture.whenComplete { _ in open.leave() }
                    do {
                        try prepare?(channel)
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: Self.requestTimeout))
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(metrics: metrics, isReady: isReady))
                        return channel.eventLoop.makeSucceededVoidFuture()
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                }
                .bind(host: self.host, port: self.port).get()
        } catch {
            try? await group.shutdownGracefully()
            throw MetricsEndpointError(description: "cannot serve metrics on \(self.host):\(self.port): \(error)")
        }
        self.logger.info("metrics endpoint listening", metadata: ["kafkascope.metrics": "\(self.host):\(channel.localAddress?.port ?? self.port)"])
        try? await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
        try? await group.shutdownGracefully()
    }
}

public struct MetricsEndpointError: Error, CustomStringConvertible {
    public var description: String
}

/// Open HTTP connections, so that a flood of them is refused rather than served.
private final class ConnectionBudget: Sendable {
    private let count = NIOLockedValueBox(0)

    func enter(limit: Int) -> Bool {
        self.count.withLockedValue { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func leave() {
        self.count.withLockedValue { $0 -= 1 }
    }
}
