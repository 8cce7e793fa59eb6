import InMemoryLogging
import KafkaCodec
import KafkaTestSupport
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import KafkaProxy

/// A broker listener whose port is taken: the error is logged, the response still reaches the client and the
/// connection keeps working.
@Suite struct ListenerFailureTests {
    @Test func aTakenBrokerPortIsLoggedAndTheProxyCarriesOn() async throws {
        let frames = try Fixtures.frames("kafka-python")
        let connection = try #require(frames.first { $0.apiKey == .metadata }?.connection)
        let (requests, answers) = Fixtures.replayable(frames, connection: connection)
        #expect(requests.contains { $0.apiKey == .metadata })
        let broker = FrameCollector { answers[$0.getInteger(at: 8, as: Int32.self)!] }
        let brokerChannel = try await LoopbackPeers.broker(broker)

        // Something else already listens where Tansu's node 111 would be served.
        let squatter = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let takenPort = squatter.localAddress!.port!
        var configuration = ProxyConfiguration(
            bootstrapServers: [HostAndPort(host: "127.0.0.1", port: brokerChannel.localAddress!.port!)],
            listen: HostAndPort(host: "127.0.0.1", port: 0))
        configuration.brokerPortBase = takenPort - 111
        let logs = InMemoryLogHandler()
        let logger = Logger(label: "test") { _ in logs }
        let proxy = try await RunningProxy.start(configuration, logger: logger)
        defer { proxy.task.cancel() }

        let client = FrameCollector()
        let clientChannel = try await LoopbackPeers.client(port: proxy.port, client)
        for request in requests { try await clientChannel.writeAndFlush(request.bytes) }
        let received = await client.waitForFrames(requests.count)
        #expect(received.count == requests.count, "every response arrives although the listener could not open")
        #expect(logs.entries.contains { $0.level == .error && "\($0.message)".contains("cannot open the listener") })

        try await clientChannel.close()
        try await proxy.stop()
        try await squatter.close()
        try await brokerChannel.close()
    }
}
