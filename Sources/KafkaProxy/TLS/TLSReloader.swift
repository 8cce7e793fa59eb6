import Logging
public import ServiceLifecycle
import UnixSignals

/// Reloads served certificates on SIGHUP, and when their files change (checked every few seconds), for as long
/// as the process runs.
public struct TLSReloader: Service {
    private let stores: [ServerTLSContextStore]
    private let pollInterval: Duration

    public init(stores: [ServerTLSContextStore], pollInterval: Duration = .seconds(5)) {
        self.stores = stores
        self.pollInterval = pollInterval
    }

    public func run() async throws {
        let stores = self.stores
        let interval = self.pollInterval
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in hangups.cancelOnGracefulShutdown() {
                    for store in stores { store.reload(because: "SIGHUP") }
                }
            }
            group.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: interval)
                    for store in stores where store.filesChanged { store.reload(because: "files changed") }
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }
}
