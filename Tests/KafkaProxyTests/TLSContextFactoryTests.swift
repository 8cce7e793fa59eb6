import Foundation
import Testing

@testable import KafkaProxy

/// TLS files that cannot be used stop the proxy with a message naming the file, never its contents.
@Suite struct TLSContextFactoryTests {
    @Test func missingFilesAreNamed() {
        let settings = ServerTLSSettings(certificatePath: "/nonexistent/kafkascope.crt", keyPath: "/nonexistent/kafkascope.key")
        #expect { try TLSContextFactory.serverContext(settings) } throws: { error in
            "\(error)" == "cannot read the certificate file /nonexistent/kafkascope.crt"
        }
    }

    @Test func aFileWithoutAPEMCertificateIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kafkascope-not-a-cert-\(UUID()).pem").path
        try Data("-----BEGIN NONSENSE-----\nsecret-material\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let settings = ServerTLSSettings(certificatePath: path, keyPath: path)
        #expect { try TLSContextFactory.serverContext(settings) } throws: { error in
            "\(error)".contains("holds no PEM certificate") && !"\(error)".contains("secret-material")
        }
    }

    @Test func upstreamCertificateAndKeyGoTogether() {
        #expect(throws: TLSSetupError.self) { try TLSContextFactory.clientContext(UpstreamTLSSettings(certificatePath: "/x.crt")) }
    }

    @Test func addressesGetNoServerName() {
        #expect(UpstreamTLS.isIPAddress("127.0.0.1"))
        #expect(UpstreamTLS.isIPAddress("::1"))
        #expect(!UpstreamTLS.isIPAddress("broker-0.kafka.svc"))
    }
}
