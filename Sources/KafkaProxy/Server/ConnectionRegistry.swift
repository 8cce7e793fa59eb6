import NIOConcurrencyHelpers
import NIOCore

/// The open client connections, for the connection cap and for draining at shutdown.
final class ConnectionRegistry: Sendable {
    private let channels = NIOLockedValueBox([ObjectIdentifier: any Channel]())
    let maximum: Int

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// Adds a connection; false when the proxy is already at its cap.
    func add(_ channel: any Channel) -> Bool {
        self.channels.withLockedValue { channels in
            guard channels.count < self.maximum else { return false }
            channels[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    func remove(_ channel: any Channel) {
        _ = self.channels.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    var count: Int { self.channels.withLockedValue { $0.count } }

    /// Asks every connection to finish its in-flight requests and close.
    func drainAll() {
        for channel in self.channels.withLockedValue({ Array($0.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(ProxyDrainEvent())
        }
    }

    func closeAll() {
        for channel in self.channels.withLockedValue({ Array($0.values) }) {
            channel.close(promise: nil)
        }
    }
}
