import Foundation
import NIOSSL

/// Builds TLS contexts from files, checking what a running proxy would otherwise find out one handshake at a
/// time: unreadable files, a key that does not match its certificate, an expired certificate.
enum TLSContextFactory {
    /// TLS 1.2 and up with the library's default ciphers.
    static func serverContext(_ settings: ServerTLSSettings, now: Date = Date()) throws(TLSSetupError) -> LoadedServerContext {
        let chain = try self.certificates(settings.certificatePath, what: "certificate")
        try self.checkValidity(chain[0], file: settings.certificatePath, now: now)
        let key = try self.privateKey(settings.keyPath)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let ca = settings.clientCAPath {
            configuration.trustRoots = .certificates(try self.certificates(ca, what: "client CA"))
            // Clients have no host name to check; the chain to the CA is what counts.
            configuration.certificateVerification = .noHostnameVerification
        }
        let context = try self.context(configuration, what: "certificate \(settings.certificatePath) and key \(settings.keyPath)")
        return LoadedServerContext(context: context, leaf: chain[0])
    }

    static func clientContext(_ settings: UpstreamTLSSettings) throws(TLSSetupError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let ca = settings.caPath {
            configuration.trustRoots = .certificates(try self.certificates(ca, what: "upstream CA"))
        }
        switch (settings.certificatePath, settings.keyPath) {
        case (let certificate?, let key?):
            let chain = try self.certificates(certificate, what: "upstream client certificate")
            try self.checkValidity(chain[0], file: certificate, now: Date())
            configuration.certificateChain = chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(try self.privateKey(key))
        case (nil, nil):
            break
        default:
            throw TLSSetupError("--upstream-cert and --upstream-key go together")
        }
        configuration.certificateVerification = settings.verify ? .fullVerification : .none
        return try self.context(configuration, what: "the upstream TLS settings")
    }

    private static func certificates(_ path: String, what: String) throws(TLSSetupError) -> [NIOSSLCertificate] {
        guard FileManager.default.isReadableFile(atPath: path) else { throw TLSSetupError("cannot read the \(what) file \(path)") }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw TLSSetupError("the \(what) file \(path) holds no PEM certificate")
        }
        guard !chain.isEmpty else { throw TLSSetupError("the \(what) file \(path) holds no PEM certificate") }
        return chain
    }

    /// Reads a key without ever putting its bytes into an error message.
    private static func privateKey(_ path: String) throws(TLSSetupError) -> NIOSSLPrivateKey {
        guard FileManager.default.isReadableFile(atPath: path) else { throw TLSSetupError("cannot read the key file \(path)") }
        do {
            return try NIOSSLPrivateKey(file: path, format: .pem)
        } catch {
            throw TLSSetupError("the key file \(path) holds no unencrypted PEM private key")
        }
    }

    private static func checkValidity(_ certificate: NIOSSLCertificate, file: String, now: Date) throws(TLSSetupError) {
        let notAfter = Date(timeIntervalSince1970: TimeInterval(certificate.notValidAfter))
        let notBefore = Date(timeIntervalSince1970: TimeInterval(certificate.notValidBefore))
        if notAfter < now { throw TLSSetupError("the certificate in \(file) expired on \(Self.format(notAfter))") }
        if notBefore > now { throw TLSSetupError("the certificate in \(file) is not valid before \(Self.format(notBefore))") }
    }

    private static func context(_ configuration: TLSConfiguration, what: String) throws(TLSSetupError) -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSSetupError("cannot use \(what): \(TLSFailure.describe(error))")
        }
    }

    static func format(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}

/// A server context with the certificate it presents, for logging what was loaded.
struct LoadedServerContext: Sendable {
    var context: NIOSSLContext
    var leaf: NIOSSLCertificate

    var expiry: String { TLSContextFactory.format(Date(timeIntervalSince1970: TimeInterval(self.leaf.notValidAfter))) }
}

/// A TLS file or setting the proxy cannot use; the message names the file and never its contents.
public struct TLSSetupError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
