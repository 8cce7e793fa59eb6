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

    /// Kubernetes updates a secret volume by pointing a directory link at a new directory; the file path the proxy
    /// was given stays the same, and its stamp must change.
    @Test func aSwappedDirectoryLinkChangesTheStamp() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("kafkascope-stamp-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        for version in ["v1", "v2"] {
            try FileManager.default.createDirectory(atPath: "\(base)/\(version)", withIntermediateDirectories: true)
            try Data("certificate \(version)".utf8).write(to: URL(fileURLWithPath: "\(base)/\(version)/tls.crt"))
        }
        try FileManager.default.createSymbolicLink(atPath: "\(base)/..data", withDestinationPath: "v1")
        try FileManager.default.createSymbolicLink(atPath: "\(base)/tls.crt", withDestinationPath: "..data/tls.crt")
        let before = try #require(FileStamp(path: "\(base)/tls.crt"))
        #expect(FileStamp(path: "\(base)/tls.crt") == before)
        try FileManager.default.removeItem(atPath: "\(base)/..data")
        try FileManager.default.createSymbolicLink(atPath: "\(base)/..data", withDestinationPath: "v2")
        #expect(FileStamp(path: "\(base)/tls.crt") != before)
        #expect(FileStamp(path: "\(base)/missing.crt") == nil)
    }
}
