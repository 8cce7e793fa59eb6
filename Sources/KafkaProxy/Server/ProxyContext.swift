import Logging
import NIOCore

/// What every connection of one proxy shares.
final class ProxyContext: Sendable {
    let configuration: ProxyConfiguration
    let directory: BrokerDirectory
    let rewriter: ResponseRewriter
    let connections: ConnectionRegistry
    let events = ProxyEvents()
    let logger: Logger

    init(configuration: ProxyConfiguration, directory: BrokerDirectory, connections: ConnectionRegistry, logger: Logger) {
        self.configuration = configuration
        self.directory = directory
        self.connections = connections
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
}

/// Fired into every client pipeline on SIGTERM or SIGINT.
struct ProxyDrainEvent: Sendable {}
