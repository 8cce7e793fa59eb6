import KafkaCodec
import NIOCore

/// Why the proxy closed a connection; the code is extensible and doubles as the metrics `reason` label.
public struct ProxyError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unexpectedCorrelationID = "correlation_mismatch"
            case unsolicitedResponse = "unsolicited_response"
            case malformedFrame = "malformed_frame"
            case upstreamConnectFailed = "upstream_connect_failed"
            case upstreamClosed = "upstream_closed"
            case unknownBroker = "unknown_broker"
            case idleTimeout = "idle_timeout"
            case tooManyConnections = "too_many_connections"
            case tlsHandshakeFailed = "tls_handshake_failed"
            case protocolMismatch = "protocol_mismatch"
            case connectionReset = "connection_reset"
            case tooManyOpenFiles = "too_many_open_files"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        public static let unexpectedCorrelationID = Code(.unexpectedCorrelationID)
        public static let unsolicitedResponse = Code(.unsolicitedResponse)
        public static let malformedFrame = Code(.malformedFrame)
        public static let upstreamConnectFailed = Code(.upstreamConnectFailed)
        public static let upstreamClosed = Code(.upstreamClosed)
        public static let unknownBroker = Code(.unknownBroker)
        public static let idleTimeout = Code(.idleTimeout)
        public static let tooManyConnections = Code(.tooManyConnections)
        public static let tlsHandshakeFailed = Code(.tlsHandshakeFailed)
        public static let protocolMismatch = Code(.protocolMismatch)
        public static let connectionReset = Code(.connectionReset)
        /// The process or the system is out of file descriptors: no broker connection could be opened.
        public static let tooManyOpenFiles = Code(.tooManyOpenFiles)

        public var description: String { self.base.rawValue }
    }

    public var code: Code
    public var detail: String

    @inline(never)
    package init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(self.code): \(self.detail)" }

    /// The code for an error a channel reported.
    static func code(for error: any Error) -> Code {
        switch error {
        case is KafkaDecodingError: .malformedFrame
        case is TLSHandshakeError: .tlsHandshakeFailed
        case is ProtocolMismatchError: .protocolMismatch
        case is IOError: .connectionReset
        default: .upstreamClosed
        }
    }
}
