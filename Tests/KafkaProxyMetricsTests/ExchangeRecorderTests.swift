import KafkaCodec
import KafkaTestSupport
import NIOCore
import Testing

@testable import KafkaProxyMetrics

@Suite struct ExchangeRecorderTests {
    /// Replays every recorded connection through recorders, as the proxy would, and checks the counts against the
    /// frames themselves.
    @Test(arguments: Fixtures.names)
    func recordedTrafficIsCountedFrameForFrame(fixture: String) throws {
        let metrics = KafkascopeMetrics()
        let frames = try Fixtures.frames(fixture)
        var requests: [String: Int] = [:]
        var requestBytes: [String: Int] = [:]
        var responseBytes: [String: Int] = [:]
        var recorders: [Int: ExchangeRecorder] = [:]
        var awaited = 0  // requests with a response to come, less the responses seen
        for frame in frames {
            let recorder = recorders[frame.connection] ?? metrics.recorder(broker: "7", client: nil)
            recorders[frame.connection] = recorder
            switch frame.kind {
            case .request:
                let header = try #require(KafkaCodec.peekRequestHeader(frame.payload))
                let expectsResponse = KafkaCodec.expectsResponse(frame.payload, header: header)
                #expect(recorder.requestRead(frame.payload, header: header, frameBytes: frame.bytes.readableBytes, expectsResponse: expectsResponse) == nil)
                requests[header.apiKey.name, default: 0] += 1
                if expectsResponse { awaited += 1 }
                requestBytes[header.apiKey.name, default: 0] += frame.bytes.readableBytes
            case .response(let key, let version):
                #expect(recorder.responseRead(frame.payload, apiKey: key, apiVersion: version, frameBytes: frame.bytes.readableBytes, brokerDuration: .milliseconds(3)) == nil)
                recorder.responseDelivered(apiKey: key, after: .milliseconds(4))
                responseBytes[key.name, default: 0] += frame.bytes.readableBytes
                awaited -= 1
            }
        }
        var exposition = Exposition(metrics.exposition())
        for (api, count) in requests {
            #expect(exposition.sum("kafkascope_requests_total", ["api": api, "broker": "7"]) == Double(count), "\(api)")
            #expect(exposition.sum("kafkascope_request_bytes_total", ["api": api]) == Double(requestBytes[api]!), "\(api)")
        }
        for (api, bytes) in responseBytes {
            #expect(exposition.sum("kafkascope_response_bytes_total", ["api": api]) == Double(bytes), "\(api)")
            let answered = exposition.sum("kafkascope_broker_duration_seconds_count", ["api": api])
            #expect(abs(exposition.sum("kafkascope_broker_duration_seconds_sum", ["api": api]) - answered * 0.003) < 1e-6)
            #expect(exposition.sum("kafkascope_request_duration_seconds_bucket", ["api": api, "le": "0.005"]) == answered)
            #expect(exposition.sum("kafkascope_request_duration_seconds_bucket", ["api": api, "le": "0.003"]) == 0)
        }
        for expectation in try Fixtures.expectations(fixture) {
            #expect(exposition.sum("kafkascope_produced_records_total", ["topic": expectation.topic]) == Double(expectation.records))
            #expect(exposition.sum("kafkascope_fetched_records_total", ["topic": expectation.topic]) >= Double(expectation.records))
        }
        #expect(exposition.sum("kafkascope_frames_undecoded_total") == 0)
        // A recording can end while the client still waits for a fetch.
        #expect(exposition.sum("kafkascope_inflight_requests") == Double(awaited))
        #expect(exposition.sum("kafkascope_clients", ["software_name": fixture == "kafka-python" ? "kafka-python" : "confluent-kafka-python"]) >= 1)

        for recorder in recorders.values { recorder.closed() }
        exposition = Exposition(metrics.exposition())
        #expect(exposition.sum("kafkascope_clients") == 0)
        #expect(exposition.sum("kafkascope_inflight_requests") == 0)
    }

    @Test func unknownAPIsAndMalformedFramesAreCountedNotFatal() {
        let metrics = KafkascopeMetrics()
        let recorder = metrics.recorder(broker: "bootstrap", client: nil)
        var unknown = ByteBuffer()
        unknown.writeMultipleIntegers(Int16(999), Int16(0), Int32(1), Int16(-1))
        let unknownHeader = RequestHeaderPrefix(apiKey: APIKey(rawValue: 999), apiVersion: 0, correlationID: 1)
        #expect(recorder.requestRead(unknown, header: unknownHeader, frameBytes: 14, expectsResponse: true) == nil)
        var truncated = ByteBuffer()
        truncated.writeMultipleIntegers(Int16(3), Int16(12), Int32(2))
        let metadataHeader = RequestHeaderPrefix(apiKey: .metadata, apiVersion: 12, correlationID: 2)
        #expect(recorder.requestRead(truncated, header: metadataHeader, frameBytes: 12, expectsResponse: true) != nil)
        var future = ByteBuffer()
        future.writeMultipleIntegers(Int16(3), Int16(99), Int32(3))
        let futureHeader = RequestHeaderPrefix(apiKey: .metadata, apiVersion: 99, correlationID: 3)
        #expect(recorder.requestRead(future, header: futureHeader, frameBytes: 12, expectsResponse: true) == nil)

        let exposition = Exposition(metrics.exposition())
        #expect(exposition.sum("kafkascope_frames_undecoded_total", ["direction": "request", "reason": "unknown_api"]) == 1)
        #expect(exposition.sum("kafkascope_frames_undecoded_total", ["direction": "request", "reason": "malformed"]) == 1)
        #expect(exposition.sum("kafkascope_frames_undecoded_total", ["direction": "request", "reason": "unsupported_version"]) == 1)
        #expect(exposition.sum("kafkascope_inflight_requests", ["broker": "bootstrap"]) == 3)
        recorder.closed()
        #expect(Exposition(metrics.exposition()).sum("kafkascope_inflight_requests", ["broker": "bootstrap"]) == 0)
    }

    @Test func labelValuesBeyondTheCapFoldIntoOther() {
        let metrics = KafkascopeMetrics(labelCap: 2)
        #expect(metrics.topics.admit("a") == "a")
        #expect(metrics.topics.admit("b") == "b")
        #expect(metrics.topics.admit("a") == "a")
        #expect(metrics.topics.admit("c") == "__other__")
        #expect(metrics.topics.admit("d") == "__other__")
        let exposition = Exposition(metrics.exposition())
        #expect(exposition.sum("kafkascope_label_values_folded_total", ["label": "topic"]) == 2)
        #expect(exposition.sum("kafkascope_label_values_folded_total", ["label": "client_id"]) == 0)
    }
}
