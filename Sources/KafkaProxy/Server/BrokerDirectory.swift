import KafkaProxyMetrics
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// What the proxy knows of the upstream brokers, and which of their listeners are open.
///
/// Shared by every connection: event loops record the brokers each rewritten response names, and broker
/// listeners look up where to connect.
final class BrokerDirectory: Sendable {
    private enum Listener {
        case opening(EventLoopFuture<Void>)
        case open
        /// Binding failed (logged and counted once); the proxy carries on without it.
        case failed
    }

    private struct State {
        var upstream: [Int32: HostAndPort] = [:]
        var listeners: [Int32: Listener] = [:]
    }

    private let state = NIOLockedValueBox(State())
    let portMapping: BrokerPortMapping
    /// Binds the listener for a node on a port and reports whether it worked; supplied by the server.
    private let openListener: @Sendable (Int32, Int) -> EventLoopFuture<Bool>

    private let metrics: KafkascopeMetrics
    private let logger: Logger

    init(
        portMapping: BrokerPortMapping,
        metrics: KafkascopeMetrics,
        logger: Logger,
        openListener: @escaping @Sendable (Int32, Int) -> EventLoopFuture<Bool>
    ) {
        self.portMapping = portMapping
        self.metrics = metrics
        self.logger = logger
        self.openListener = openListener
    }

    func upstreamAddress(of nodeID: Int32) -> HostAndPort? {
        self.state.withLockedValue { $0.upstream[nodeID] }
    }

    /// Records the brokers a response named and opens listeners for new ones.
    ///
    /// Returns a future to wait on before forwarding that response while a listener is being opened, so that a
    /// client never learns of a port before something listens there; nil when nothing is pending.
    func record(_ brokers: [BrokerEndpoint], on eventLoop: any EventLoop) -> EventLoopFuture<Void>? {
        let (pending, toOpen) = self.state.withLockedValue { state in
            var pending: [EventLoopFuture<Void>] = []
            var toOpen: [(Int32, Int, EventLoopPromise<Void>)] = []
            for broker in brokers {
                state.upstream[broker.nodeID] = HostAndPort(host: broker.host, port: Int(broker.port))
                switch state.listeners[broker.nodeID] {
                case .opening(let future):
                    pending.append(future)
                case .open, .failed:
                    continue
                case nil:
                    guard let port = self.portMapping.port(for: broker.nodeID) else {
                        // Logged and counted once: the entry stays `.failed`.
                        state.listeners[broker.nodeID] = .failed
                        self.metrics.listenerError(reason: "port_out_of_range")
                        self.logger.error(
                            "broker node id maps outside the port range; its address is passed on unrewritten",
                            metadata: ["kafka.node_id": "\(broker.nodeID)", "kafka.broker_port_base": "\(self.portMapping.base)"])
                        continue
                    }
                    let promise = eventLoop.makePromise(of: Void.self)
                    state.listeners[broker.nodeID] = .opening(promise.futureResult)
                    toOpen.append((broker.nodeID, port, promise))
                    pending.append(promise.futureResult)
                }
            }
            return (pending, toOpen)
        }
        for (nodeID, port, promise) in toOpen {
            self.openListener(nodeID, port).whenComplete { result in
                let opened = (try? result.get()) ?? false
                self.state.withLockedValue { $0.listeners[nodeID] = opened ? .open : .failed }
                promise.succeed()
            }
        }
        return pending.isEmpty ? nil : EventLoopFuture.andAllComplete(pending, on: eventLoop)
    }
}
