public import NIOCore
import NIOSSL

/// The handlers that go first in a client connection's pipeline: TLS when clients speak it, and in either case
/// the check that the client speaks what the listener serves.
enum ClientTLS {
    static func addHandlers(to channel: any Channel, proxy: ProxyContext) throws {
        let start = ConnectionStart()
        try channel.pipeline.syncOperations.addHandler(ProtocolMismatchDetector(expectsTLS: proxy.clientTLS != nil, start: start))
        try proxy.clientTLS?.addHandlers(to: channel, handshakeTimeout: proxy.configuration.connectTimeout.timeAmount, start: start)
    }
}

extension ServerTLSContextStore {
    /// Puts TLS with the current certificate first in a new connection's pipeline.
    public func addHandlers(to channel: any Channel, handshakeTimeout: TimeAmount = .seconds(10)) throws {
        try self.addHandlers(to: channel, handshakeTimeout: handshakeTimeout, start: nil)
    }

    func addHandlers(to channel: any Channel, handshakeTimeout: TimeAmount, start: ConnectionStart?) throws {
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(NIOSSLServerHandler(context: self.current))
        try pipeline.addHandler(TLSHandshakeReporter(peer: "the client", timeout: handshakeTimeout, start: start))
    }
}

/// The handlers that go first in a broker connection's pipeline when brokers speak TLS.
enum UpstreamTLS {
    static func addHandlers(to channel: any Channel, host: String, proxy: ProxyContext) throws {
        guard let context = proxy.upstreamTLS else { return }
        // SNI carries host names only; for an address, NIOSSL checks the certificate against the peer's IP.
        let serverName = Self.isIPAddress(host) ? nil : host
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
        try pipeline.addHandler(TLSHandshakeReporter(peer: "the broker", timeout: proxy.configuration.connectTimeout.timeAmount))
    }

    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}
