import KafkaCodec
import KafkaTestSupport
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import KafkaProxy

/// Real frames through a real proxy on loopback, between a fake broker and a client: requests reach the broker
/// as the same bytes, responses come back as the same bytes, and a Metadata response differs only in host and
/// port.
@Suite struct ByteExactForwardingTests {
    @Test func framesPassUnchangedAndMetadataDiffersOnlyInAddresses() async throws {
        // The busiest recorded connection that has Metadata; every request that got a response is replayed. The
        // upstream is named by host name, as in a cluster.
        let frames = try Fixtures.frames("kafka-python")
        let withMetadata = Set(frames.filter { $0.apiKey == .metadata }.map(\.connection))
        let connection = try #require(withMetadata.max { a, b in
            frames.count { $0.connection == a } < frames.count { $0.connection == b }
        })
        let (requests, answers) = Fixtures.replayable(frames, connection: connection)
        let broker = FrameCollector { request in answers[request.getInteger(at: 8, as: Int32.self)!] }
        let brokerChannel = try await LoopbackPeers.broker(broker)
        let brokerPort = brokerChannel.localAddress!.port!

        var configuration = ProxyConfiguration(
            bootstrapServers: [HostAndPort(host: "localhost", port: brokerPort)], listen: HostAndPort(host: "127.0.0.1", port: 0))
        let base = Int.random(in: 40000...50000)
        configuration.brokerPortBase = base
        configuration.advertisedHost = "proxy.test"
        let proxy = try await RunningProxy.start(configuration)
        defer { proxy.task.cancel() }

        let client = FrameCollector()
        let clientChannel = try await LoopbackPeers.client(port: proxy.port, client)
        for request in requests {
            try await clientChannel.writeAndFlush(request.bytes)
        }
        let received = await client.waitForFrames(requests.count)
        #expect(received.count == requests.count)
        #expect(broker.frames.withLockedValue { $0 } == requests.map(\.bytes), "requests reach the broker unchanged")

        var rewrites = 0
        for (request, response) in zip(requests, received) {
            let header = KafkaCodec.peekRequestHeader(request.payload)!
            let original = answers[header.correlationID]!
            switch header.apiKey {
            case .metadata:
                rewrites += 1
                let decodedOriginal = try self.metadata(original, version: header.apiVersion)
                var decoded = try self.metadata(response, version: header.apiVersion)
                #expect(decoded.brokers.allSatisfy { $0.host == "proxy.test" && Int($0.port) == base + Int($0.nodeID) })
                for index in decoded.brokers.indices {
                    decoded.brokers[index].host = decodedOriginal.brokers[index].host
                    decoded.brokers[index].port = decodedOriginal.brokers[index].port
                }
                #expect(decoded == decodedOriginal, "nothing but host and port changes")
            case .findCoordinator:
                rewrites += 1
                let decodedOriginal = try self.coordinator(original, version: header.apiVersion)
                var decoded = try self.coordinator(response, version: header.apiVersion)
                for index in decoded.coordinators.indices {
                    #expect(decoded.coordinators[index].host == "proxy.test")
                    #expect(Int(decoded.coordinators[index].port) == base + Int(decoded.coordinators[index].nodeID))
                    decoded.coordinators[index].host = decodedOriginal.coordinators[index].host
                    decoded.coordinators[index].port = decodedOriginal.coordinators[index].port
                }
                #expect(decoded == decodedOriginal, "nothing but host and port changes")
            default:
                #expect(response == original, "\(request) \(header.apiKey.name): the response is forwarded byte for byte")
            }
        }
        #expect(rewrites > 0)
        try await clientChannel.close()
        try await proxy.stop()
        try await brokerChannel.close()
    }

    private func metadata(_ frame: ByteBuffer, version: Int16) throws -> MetadataResponse {
        let payload = frame.getSlice(at: 4, length: frame.readableBytes - 4)!
        return try MetadataResponse(decoding: try KafkaCodec.splitResponse(payload, apiKey: .metadata, apiVersion: version).body, version: version)
    }

    private func coordinator(_ frame: ByteBuffer, version: Int16) throws -> FindCoordinatorResponse {
        let payload = frame.getSlice(at: 4, length: frame.readableBytes - 4)!
        let body = try KafkaCodec.splitResponse(payload, apiKey: .findCoordinator, apiVersion: version).body
        return try FindCoordinatorResponse(decoding: body, version: version)
    }
}
