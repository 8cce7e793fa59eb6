import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import KafkaProxyMetrics

@Suite struct MetricsHTTPHandlerTests {
    private func get(_ request: String, ready: Bool = true) throws -> String {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
        try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(metrics: KafkascopeMetrics()) { ready })
        try channel.writeInbound(ByteBuffer(string: request))
        var response = ""
        while let part = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = part else { continue }
            response += String(buffer: buffer)
        }
        _ = try? channel.finish()
        return response
    }

    @Test func metricsAreServedInTheTextFormat() throws {
        let response = try self.get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 200 OK"))
        #expect(response.contains("content-type: text/plain; version=0.0.4; charset=utf-8"))
        #expect(response.contains("kafkascope_build_info{version=\"\(KafkascopeVersion.current)\"} 1"))
        #expect(response.contains("connection: close"))
    }

    @Test func readinessFollowsTheProxy() throws {
        #expect(try self.get("GET /readyz HTTP/1.1\r\n\r\n", ready: false).hasPrefix("HTTP/1.1 503"))
        #expect(try self.get("GET /readyz HTTP/1.1\r\n\r\n", ready: true).hasPrefix("HTTP/1.1 200"))
        #expect(try self.get("GET /healthz HTTP/1.1\r\n\r\n", ready: false).hasPrefix("HTTP/1.1 200"))
    }

    @Test func otherPathsAndMethodsAreRefused() throws {
        #expect(try self.get("GET /metrics/x HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 404"))
        #expect(try self.get("POST /metrics HTTP/1.1\r\ncontent-length: 2\r\n\r\nhi").hasPrefix("HTTP/1.1 405"))
        let head = try self.get("HEAD /healthz HTTP/1.1\r\n\r\n")
        #expect(head.hasPrefix("HTTP/1.1 200") && !head.hasSuffix("ok\n"))
    }
}
