import NIOCore

extension SocketAddress {
    /// `ip:port`, an IPv6 address in brackets: how reports and the exchange log name connection ends, as
    /// `kafkascope pcap` names them.
    var endpointText: String? {
        self.ipAddress.map { self.protocol == .inet6 ? "[\($0)]:\(self.port ?? 0)" : "\($0):\(self.port ?? 0)" }
    }
}
