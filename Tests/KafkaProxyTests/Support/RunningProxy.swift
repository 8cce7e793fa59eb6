import Logging
import NIOCore
import ServiceLifecycle

@testable import KafkaProxy

/// A `ProxyServer` running in a service group on loopback, for tests.
struct RunningProxy {
    let server: ProxyServer
    let group: ServiceGroup
    let task: Task<Void, any Error>
    /// Where the bootstrap listener ended up (the tests listen on port 0).
    let port: Int

    static func start(_ configuration: ProxyConfiguration, logger: Logger = Logger(label: "test")) async throws -> RunningProxy {
        let server = try ProxyServer(configuration: configuration, logger: logger)
        let group = ServiceGroup(services: [server], logger: logger)
        let task = Task { try await group.run() }
        for _ in 0..<500 {
            if let port = server.boundAddresses.first?.port {
                return RunningProxy(server: server, group: group, task: task, port: port)
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        task.cancel()
        throw CancellationError()
    }

    /// Shuts down as SIGTERM would and waits for the proxy to finish.
    func stop() async throws {
        await self.group.triggerGracefulShutdown()
        try await self.task.value
    }
}
