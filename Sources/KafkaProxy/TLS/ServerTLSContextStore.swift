import Foundation
// Release builds need the module that declares `timespec` named, for `st_mtim` under MemberImportVisibility.
#if canImport(SwiftOverlayShims)
import SwiftOverlayShims
#endif
public import KafkaProxyMetrics
public import Logging
import NIOConcurrencyHelpers
import NIOSSL

/// The TLS context that new connections to a TLS listener get. Reloading swaps it for connections accepted
/// afterwards; connections already open keep the context they started with, so none is dropped.
public final class ServerTLSContextStore: Sendable {
    let settings: ServerTLSSettings
    /// What the certificate serves, for log lines: "clients" or "metrics".
    let purpose: String
    private let metrics: KafkascopeMetrics
    private let logger: Logger
    private let state: NIOLockedValueBox<(loaded: LoadedServerContext, stamp: [FileStamp?])>

    /// Fails when the files cannot be used, so that the proxy does not start with a TLS listener that refuses
    /// every client.
    public init(
        settings: ServerTLSSettings, purpose: String = "clients", metrics: KafkascopeMetrics, logger: Logger
    ) throws(TLSSetupError) {
        self.settings = settings
        self.purpose = purpose
        self.metrics = metrics
        self.logger = logger
        let loaded = try TLSContextFactory.serverContext(settings)
        self.state = NIOLockedValueBox((loaded, Self.stamp(settings)))
        logger.info("TLS certificate loaded", metadata: self.metadata(loaded))
    }

    var current: NIOSSLContext { self.state.withLockedValue { $0.loaded.context } }

    /// Re-reads the files. A failure keeps the previous certificate in use, and is logged and counted.
    func reload(because cause: String) {
        let stamp = Self.stamp(self.settings)
        do {
            let loaded = try TLSContextFactory.serverContext(self.settings)
            self.state.withLockedValue { $0 = (loaded, stamp) }
            self.metrics.tlsReload(outcome: "success")
            self.logger.notice("TLS certificate reloaded", metadata: self.metadata(loaded).merging(["kafka.tls.reload_cause": "\(cause)"]) { $1 })
        } catch {
            // Remember the files as seen, so that a broken file is reported once, not at every poll.
            self.state.withLockedValue { $0.stamp = stamp }
            self.metrics.tlsReload(outcome: "failure")
            self.logger.error(
                "TLS certificate not reloaded; the previous one stays in use",
                metadata: ["error": "\(error)", "kafka.tls.reload_cause": "\(cause)", "kafka.tls.serves": "\(self.purpose)"])
        }
    }

    /// Whether any of the files changed since they were last read.
    var filesChanged: Bool {
        let now = Self.stamp(self.settings)
        return self.state.withLockedValue { $0.stamp != now }
    }

    private static func stamp(_ settings: ServerTLSSettings) -> [FileStamp?] {
        [settings.certificatePath, settings.keyPath, settings.clientCAPath].map { $0.flatMap(FileStamp.init(path:)) }
    }

    private func metadata(_ loaded: LoadedServerContext) -> Logger.Metadata {
        ["kafka.tls.certificate": "\(self.settings.certificatePath)", "kafka.tls.expires": "\(loaded.expiry)",
         "kafka.tls.mutual": "\(self.settings.clientCAPath != nil)", "kafka.tls.serves": "\(self.purpose)"]
    }
}

/// What tells a changed file from the one read before: its modification time, size and inode. `stat` follows
/// symbolic links all the way, so a Kubernetes secret volume, which swaps a directory link, reads as changed.
struct FileStamp: Equatable, Sendable {
    var modified: Int
    var modifiedNanoseconds: Int
    var size: Int
    var inode: UInt

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.modified = Int(info.st_mtim.tv_sec)
        self.modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
        self.size = Int(info.st_size)
        self.inode = UInt(info.st_ino)
    }
}
