import Foundation
import NIOSSL

/// A TLS handshake that failed, with a reason a person can act on.
public struct TLSHandshakeError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Turns TLS library errors into short reasons: BoringSSL's own text carries error numbers and the paths of its
/// source files, which help nobody running a proxy.
enum TLSFailure {
    static func describe(_ error: any Error, peer: String = "the peer") -> String {
        switch error {
        case let error as TLSHandshakeError:
            return error.description
        case NIOSSLError.handshakeFailed(let inner):
            return self.describe(inner, peer: peer)
        case BoringSSLError.sslError(let stack), BoringSSLError.unknownError(let stack):
            let reasons = stack.map { self.reason(from: "\($0)") }
            return reasons.isEmpty ? "TLS error" : reasons.joined(separator: "; ").replacingOccurrences(of: "the peer", with: peer)
        case NIOSSLError.failedToLoadPrivateKey:
            return "the private key does not match the certificate"
        case NIOSSLError.failedToLoadCertificate:
            return "the certificate cannot be used"
        case NIOSSLError.uncleanShutdown:
            return "\(peer) closed the connection during the TLS handshake"
        default:
            return "\(error)"
        }
    }

    /// `error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at …` → a phrase for the reason.
    private static func reason(from text: String) -> String {
        let code = (text.split(separator: " at ").first.map { $0.split(separator: ":").last.map(String.init) ?? "" } ?? text)
            .trimmingCharacters(in: .whitespaces)
        if let known = self.known[code] { return known }
        return code.lowercased().replacingOccurrences(of: "_", with: " ")
    }

    private static let known: [String: String] = [
        // BoringSSL does not say why; these are the usual causes.
        "CERTIFICATE_VERIFY_FAILED": "the peer's certificate did not verify (expired, not signed by the trusted CA, or not issued for this host)",
        "WRONG_VERSION_NUMBER": "the peer does not speak TLS (is it a plaintext port?)",
        "HTTP_REQUEST": "the peer sent HTTP, not TLS",
        "TLSV1_ALERT_UNKNOWN_CA": "the peer does not trust our certificate's CA",
        "SSLV3_ALERT_BAD_CERTIFICATE": "the peer rejected our certificate",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the peer says our certificate has expired",
        "TLSV1_ALERT_CERTIFICATE_REQUIRED": "the peer requires a client certificate",
        "PEER_DID_NOT_RETURN_A_CERTIFICATE": "the client sent no certificate, and mutual TLS requires one",
        "TLSV1_ALERT_PROTOCOL_VERSION": "no TLS version in common (1.2 or later required)",
        "UNSUPPORTED_PROTOCOL": "no TLS version in common (1.2 or later required)",
        "NO_SHARED_CIPHER": "no cipher in common",
        "KEY_VALUES_MISMATCH": "the private key does not match the certificate",
        "EOF during handshake": "the peer closed the connection during the TLS handshake",
    ]
}
