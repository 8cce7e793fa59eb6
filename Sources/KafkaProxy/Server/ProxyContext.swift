import KafkaProxyMetrics
import Logging
import NIOCore
import NIOSSL

/// What every connection of one proxy shares.
final class ProxyContext: Sendable {
    let configuration: ProxyConfiguration
    let directory: BrokerDirectory
    let rewriter: ResponseRewriter
    let connections: ConnectionRegistry
    let metrics: KafkascopeMetrics
    let readiness: Readiness
    let recorder: TrafficRecorder?
    /// One JSON line per exchange (`--exchange-log`).
    let exchangeLog: ExchangeLogFile?
    /// The certificate new client connections get, when clients speak TLS.
    let clientTLS: ServerTLSContextStore?
    /// The context for connections to brokers, when brokers speak TLS.
    let upstreamTLS: NIOSSLContext?
    /// Opens broker connections: over TCP, or in memory for `EmbeddedProxyConnection`.
    let connector: any UpstreamConnector
    let logger: Logger

    init(
        configuration: ProxyConfiguration, directory: BrokerDirectory, connections: ConnectionRegistry,
        metrics: KafkascopeMetrics, readiness: Readiness, recorder: TrafficRecorder?, exchangeLog: ExchangeLogFile? = nil,
        clientTLS: ServerTLSContextStore?, upstreamTLS: NIOSSLContext?, connector: any UpstreamConnector = SocketUpstreamConnector(),
        logger: Logger
    ) {
        self.connector = connector
        self.recorder = recorder
        self.exchangeLog = exchangeLog
        self.clientTLS = clientTLS
        self.upstreamTLS = upstreamTLS
        self.configuration = configuration
        self.directory = directory
        self.connections = connections
        self.metrics = metrics
        self.readiness = readiness
        self.logger = logger
        self.rewriter = ResponseRewriter(
            advertisedHost: configuration.effectiveAdvertisedHost, portMapping: directory.portMapping)
    }
}

/// Where a listener's client connections are forwarded.
enum UpstreamRoute: Sendable, CustomStringConvertible {
    /// The bootstrap listener: the first configured bootstrap server that accepts.
    case bootstrap
    /// A broker listener: the address the cluster last gave for this node.
    case broker(nodeID: Int32)

    var description: String {
        switch self {
        case .bootstrap: "bootstrap"
        case .broker(let nodeID): "broker \(nodeID)"
        }
    }

    /// The `broker` label of this route's metrics: the node id, or `bootstrap`.
    var metricLabel: String {
        switch self {
        case .bootstrap: "bootstrap"
        case .broker(let nodeID): String(nodeID)
        }
    }
}

/// Fired into every client pipeline on SIGTERM or SIGINT.
struct ProxyDrainEvent: Sendable {}
