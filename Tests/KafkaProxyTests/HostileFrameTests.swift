import KafkaCodec
import KafkaProxyMetrics
import KafkaTestSupport
import Logging
import NIOCore
import Testing

@testable import KafkaProxy

/// Frames with values that cannot be true pass through the proxy's real pipelines (in memory) untouched, are
/// counted as invalid, and stop nothing: the connection keeps serving.
@Suite struct HostileFrameTests {
    /// The request of `shared/hostile-inputs/negative-record-count-request.py`: Produce v3, one batch with a valid
    /// CRC-32C and a record count of -5.
    static func negativeRecordCountProduce(correlationID: Int32) -> ByteBuffer {
        var covered = ByteBuffer()
        covered.writeInteger(Int16(0))
        covered.writeInteger(Int32(0))
        covered.writeInteger(Int64(1_764_000_000_000))
        covered.writeInteger(Int64(1_764_000_000_000))
        covered.writeInteger(Int64(-1))
        covered.writeInteger(Int16(-1))
        covered.writeInteger(Int32(-1))
        covered.writeInteger(Int32(-5))
        let crc = covered.withUnsafeReadableBytes { CRC32.castagnoli.checksum($0) }
        var batch = ByteBuffer()
        batch.writeInteger(Int64(0))
        batch.writeInteger(Int32(9 + covered.readableBytes))
        batch.writeInteger(Int32(-1))
        batch.writeInteger(Int8(2))
        batch.writeInteger(crc)
        batch.writeBuffer(&covered)

        var body = ByteBuffer()
        body.writeInteger(Int16(0)); body.writeInteger(Int16(3)); body.writeInteger(correlationID)
        body.writeInteger(Int16(7)); body.writeString("hostile")
        body.writeInteger(Int16(-1)); body.writeInteger(Int16(1)); body.writeInteger(Int32(5000))
        body.writeInteger(Int32(1)); body.writeInteger(Int16(13)); body.writeString("hostile-topic")
        body.writeInteger(Int32(1)); body.writeInteger(Int32(0)); body.writeInteger(Int32(batch.readableBytes))
        body.writeBuffer(&batch)
        var frame = ByteBuffer()
        frame.writeInteger(Int32(body.readableBytes))
        frame.writeBuffer(&body)
        return frame
    }

    /// A Produce v3 response to `correlationID`: one partition, no error, base offset 0.
    static func produceResponse(correlationID: Int32) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeInteger(correlationID)
        body.writeInteger(Int32(1)); body.writeInteger(Int16(13)); body.writeString("hostile-topic")
        body.writeInteger(Int32(1)); body.writeInteger(Int32(0)); body.writeInteger(Int16(0))
        body.writeInteger(Int64(0)); body.writeInteger(Int64(-1))
        body.writeInteger(Int32(0))  // throttle
        var frame = ByteBuffer()
        frame.writeInteger(Int32(body.readableBytes))
        frame.writeBuffer(&body)
        return frame
    }

    @Test func aNegativeRecordCountIsCountedAndTheConnectionKeepsServing() throws {
        let metrics = KafkascopeMetrics()
        let connection = try EmbeddedProxyConnection(metrics: metrics, logger: Logger(label: "test"))
        defer { connection.close() }
        for correlationID in Int32(1)...3 {
            let request = Self.negativeRecordCountProduce(correlationID: correlationID)
            connection.clientSends(request)
            #expect(connection.takeSentToBroker() == request, "forwarded untouched")
            let response = Self.produceResponse(correlationID: correlationID)
            connection.brokerSends(response)
            #expect(connection.takeSentToClient() == response)
        }
        #expect(connection.isOpen)
        let exposition = Exposition(metrics.exposition())
        #expect(exposition.sum("kafkascope_invalid_values_total", ["field": "record_count", "direction": "request"]) == 3)
        #expect(exposition.sum("kafkascope_produced_records_total") == 0)
        #expect(exposition.sum("kafkascope_produced_bytes_total", ["topic": "hostile-topic"]) > 0)
        #expect(exposition.sum("kafkascope_requests_total", ["api": "Produce", "version": "3"]) == 3)
    }

    /// Every key and version a client may send makes at most one series per known API and version, plus one
    /// `unknown` and one `unsupported`: the label values are bounded by the schemas, not by the wire.
    @Test func keysAndVersionsFromTheWireDoNotMultiplySeries() throws {
        let metrics = KafkascopeMetrics()
        let connection = try EmbeddedProxyConnection(metrics: metrics, logger: Logger(label: "test"))
        defer { connection.close() }
        var random = SeededRandom(seed: 7)
        for correlationID in Int32(1)...400 {
            var frame = ByteBuffer()
            frame.writeInteger(Int32(10))
            frame.writeInteger(Int16.random(in: 200 ... .max, using: &random))
            frame.writeInteger(Int16.random(in: .min ... .max, using: &random))
            frame.writeInteger(correlationID)
            frame.writeInteger(Int16(-1))
            connection.clientSends(frame)
            _ = connection.takeSentToBroker()
        }
        let exposition = Exposition(metrics.exposition())
        #expect(exposition.values(of: "api", in: "kafkascope_requests_total") == ["unknown"])
        #expect(exposition.values(of: "version", in: "kafkascope_requests_total") == ["unsupported"])
        #expect(exposition.sum("kafkascope_requests_total") == 400)
    }

    /// Generated frames of every API and version, hostile batches and mutations included, from a client and a
    /// broker: whatever the proxy makes of them, it forwards requests as sent and its metrics still render.
    @Test func generatedHostileTrafficNeitherTrapsNorChangesRequests() throws {
        var invalidResponses = 0.0
        for seed in UInt64(1)...40 {
            let metrics = KafkascopeMetrics()
            let connection = try EmbeddedProxyConnection(metrics: metrics, logger: Logger(label: "test"))
            var frames = HostileFrames(seed: seed)
            var sent = ByteBuffer()
            var forwarded = ByteBuffer()
            for correlationID in Int32(1)...30 where connection.isOpen {
                let request = correlationID % 3 == 0
                    ? frames.produce(correlationID: correlationID, mutate: false)
                    : frames.request(correlationID: correlationID, mutate: correlationID % 5 == 0)
                sent.writeImmutableBuffer(request)
                connection.clientSends(request)
                var out = connection.takeSentToBroker()
                if let header = KafkaCodec.peekRequestHeader(out.getSlice(at: out.readerIndex + 4, length: max(0, out.readableBytes - 4)) ?? ByteBuffer()) {
                    connection.brokerSends(frames.response(to: header.apiKey, version: header.apiVersion, correlationID: header.correlationID, mutate: correlationID % 7 == 0))
                }
                forwarded.writeBuffer(&out)
                _ = connection.takeSentToClient()
            }
            connection.close()
            #expect(sent.readableBytesView.starts(with: forwarded.readableBytesView), "seed \(seed)")
            let exposition = Exposition(metrics.exposition())
            invalidResponses += exposition.sum("kafkascope_invalid_values_total", ["direction": "response"])
        }
        // Brokers' batches are judged as clients' are: the generated Fetch responses carry impossible ones too.
        #expect(invalidResponses > 0)
    }
}
