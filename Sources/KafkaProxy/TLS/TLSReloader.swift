import Logging
public import ServiceLifecycle
import UnixSignals

/// Reloads the client-facing certificate on SIGHUP, and when its files change (checked every few seconds), for
/// as long as the proxy runs.
public struct TLSReloader: Service {
    private let store: ServerTLSContextStore
    private let pollInterval: Duration

    init(store: ServerTLSContextStore, pollInterval: Duration = .seconds(5)) {
        self.store = store
        self.pollInterval = pollInterval
    }

    public func run() async throws {
        let store = self.store
        let interval = self.pollInterval
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in hangups.cancelOnGracefulShutdown() { store.reload(because: "SIGHUP") }
            }
            group.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: interval)
                    if store.filesChanged { store.reload(because: "files changed") }
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }
}
