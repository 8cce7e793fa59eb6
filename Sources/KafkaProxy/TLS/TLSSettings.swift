/// TLS toward clients: the proxy's certificate and key, and optionally the CA that client certificates must chain
/// to (mutual TLS).
public struct ServerTLSSettings: Sendable, Equatable {
    public var certificatePath: String
    public var keyPath: String
    /// With a CA, clients without a certificate signed by it are refused during the handshake.
    public var clientCAPath: String?

    public init(certificatePath: String, keyPath: String, clientCAPath: String? = nil) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.clientCAPath = clientCAPath
    }
}

/// TLS toward brokers.
public struct UpstreamTLSSettings: Sendable, Equatable {
    /// The CA that broker certificates must chain to; nil trusts the system's roots.
    public var caPath: String?
    /// A client certificate and key, for brokers that ask for one.
    public var certificatePath: String?
    public var keyPath: String?
    /// Off only by explicit choice (`--upstream-insecure-skip-verify`): accepts any broker certificate.
    public var verify: Bool

    public init(caPath: String? = nil, certificatePath: String? = nil, keyPath: String? = nil, verify: Bool = true) {
        self.caPath = caPath
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.verify = verify
    }
}
