/// Which end of a proxied connection something happened on; the raw value is the `side` metric label.
public enum ConnectionSide: String, CaseIterable, Sendable {
    /// The client's connection to the proxy (or, in a capture, the client's connection to its broker).
    case client
    /// The proxy's connection to the broker.
    case broker
}
