import Glibc
import KafkaProxyMetrics
import KafkaTestSupport
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import KafkaProxy

/// A client that resets its connection has left; only with requests in flight is that an error.
@Suite struct ClientResetTests {
    @Test func aResetWithNothingInFlightIsAClose() throws {
        let metrics = KafkascopeMetrics()
        let connection = try EmbeddedProxyConnection(metrics: metrics, logger: Logger(label: "test"))
        defer { connection.close() }
        connection.client.pipeline.fireErrorCaught(IOError(errnoCode: ECONNRESET, reason: "read(descriptor:pointer:size:)"))
        connection.loop.run()
        #expect(!connection.isOpen)
        #expect(Exposition(metrics.exposition()).sum("kafkascope_connection_errors_total") == 0)
    }

    @Test func aResetWithARequestInFlightIsAnError() throws {
        let metrics = KafkascopeMetrics()
        let connection = try EmbeddedProxyConnection(metrics: metrics, logger: Logger(label: "test"))
        defer { connection.close() }
        connection.clientSends(HostileFrameTests.negativeRecordCountProduce(correlationID: 1))
        connection.client.pipeline.fireErrorCaught(IOError(errnoCode: ECONNRESET, reason: "read(descriptor:pointer:size:)"))
        connection.loop.run()
        #expect(!connection.isOpen)
        let exposition = Exposition(metrics.exposition())
        #expect(exposition.sum("kafkascope_connection_errors_total", ["side": "client", "reason": "connection_reset"]) == 1)
    }
}
