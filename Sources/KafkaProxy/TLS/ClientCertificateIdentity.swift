import NIOSSL

/// Sent down a client pipeline once a mutual-TLS handshake has verified the client's certificate: the certificate's
/// subject, which then names the connection's principal (as Kafka names an SSL principal by its subject) until a
/// SASL login names another.
struct ClientCertificateIdentified: Sendable {
    var subject: String

    /// The subject as an RFC 4514-style string, most specific part first as Kafka prints it: `CN=app,OU=payments`.
    init?(_ certificate: NIOSSLCertificate) {
        let parts = certificate.subjectName.reversed().map { "\(Self.abbreviation($0.type))=\($0.value)" }
        guard !parts.isEmpty else { return nil }
        self.subject = parts.joined(separator: ",")
    }

    private static func abbreviation(_ type: SSLCertificateNameType) -> String {
        switch type {
        case .commonName: "CN"
        case .organizationalUnit: "OU"
        case .organization: "O"
        case .city: "L"
        case .state: "ST"
        case .country: "C"
        case .emailAddress: "EMAILADDRESS"
        case .userId: "UID"
        default: "OID"
        }
    }
}
