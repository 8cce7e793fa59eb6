/// A broker's node id and address as a response names it.
public struct BrokerEndpoint: Hashable, Sendable {
    public var nodeID: Int32
    public var host: String
    public var port: Int32

    public init(nodeID: Int32, host: String, port: Int32) {
        self.nodeID = nodeID
        self.host = host
        self.port = port
    }
}
