/// Where the proxy listens for each broker: `base + nodeID`.
///
/// Deterministic, so that every replica of the proxy in front of the same cluster advertises the same ports.
public struct BrokerPortMapping: Hashable, Sendable {
    public var base: Int
    /// The bootstrap port, which no broker may take.
    public var bootstrapPort: Int

    public init(base: Int, bootstrapPort: Int) {
        self.base = base
        self.bootstrapPort = bootstrapPort
    }

    /// The listener port for `nodeID`, or nil when it falls outside 1...65535 or onto the bootstrap port.
    public func port(for nodeID: Int32) -> Int? {
        let port = self.base + Int(nodeID)
        guard nodeID >= 0, (1...65535).contains(port), port != self.bootstrapPort else { return nil }
        return port
    }
}
