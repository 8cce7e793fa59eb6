import KafkaCodec
import KafkaTestSupport
import NIOCore
import Testing

@testable import KafkaProxy

@Suite struct ResponseRewriterTests {
    let rewriter = ResponseRewriter(advertisedHost: "proxy.local", portMapping: BrokerPortMapping(base: 20000, bootstrapPort: 19999))

    func frame(header: KafkaStruct, headerVersion: Int16, encode: (inout ByteBuffer) throws -> Void) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(0))
        try KafkaCodec.encode(header, as: .responseHeader, version: headerVersion, into: &buffer)
        try encode(&buffer)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: 0)
        return buffer
    }

    func request(_ key: APIKey, _ version: Int16) -> InFlightRequest {
        InFlightRequest(apiKey: key, apiVersion: version, correlationID: 5, receivedAt: .now())
    }

    func body(of frame: ByteBuffer, key: APIKey, version: Int16) throws -> ByteBuffer {
        let payload = frame.getSlice(at: 4, length: frame.readableBytes - 4)!
        return try KafkaCodec.splitResponse(payload, apiKey: key, apiVersion: version).body
    }

    @Test(arguments: Array(Int16(0)...12))
    func metadataDiffersOnlyInHostAndPort(version: Int16) throws {
        var original = MetadataResponse()
        for node in [Int32(1), 7, 1000] {
            var broker = MetadataResponse.MetadataResponseBroker()
            broker.nodeID = node
            broker.host = "broker-\(node).internal"
            broker.port = 9092
            broker.rack = version >= 1 ? "rack-\(node)" : nil
            original.brokers.append(broker)
        }
        var topic = MetadataResponse.MetadataResponseTopic()
        topic.name = "orders"
        var partition = MetadataResponse.MetadataResponsePartition()
        partition.replicaNodes = [1, 7, 1000]
        partition.isrNodes = [1, 7]
        topic.partitions = [partition]
        original.topics = [topic]
        original.controllerID = version >= 1 ? 7 : 0
        let headerVersion: Int16 = version >= 9 ? 1 : 0
        let header = KafkaStruct(values: [.int32(5)])
        let frame = try self.frame(header: header, headerVersion: headerVersion) { try original.encode(into: &$0, version: version) }

        guard case .rewritten(let rewritten, let brokers, _) = self.rewriter.rewrite(frame, for: self.request(.metadata, version)) else {
            Issue.record("metadata v\(version) must be rewritten")
            return
        }
        #expect(brokers.map(\.nodeID) == [1, 7, 1000])
        #expect(brokers.map(\.host) == ["broker-1.internal", "broker-7.internal", "broker-1000.internal"])
        let decoded = try MetadataResponse(decoding: try self.body(of: rewritten, key: .metadata, version: version), version: version)
        #expect(decoded.brokers.map(\.host) == ["proxy.local", "proxy.local", "proxy.local"])
        #expect(decoded.brokers.map(\.port) == [20001, 20007, 21000])
        // Everything but host and port is as the broker sent it.
        var expected = original
        for index in expected.brokers.indices {
            expected.brokers[index].host = "proxy.local"
            expected.brokers[index].port = 20000 + expected.brokers[index].nodeID
        }
        var reencoded = ByteBuffer()
        try expected.encode(into: &reencoded, version: version)
        #expect(try self.body(of: rewritten, key: .metadata, version: version) == reencoded)
        #expect(rewritten.getSlice(at: 4, length: 4) == frame.getSlice(at: 4, length: 4), "the correlation id is kept")
    }

    @Test func findCoordinatorIsRewrittenInBothShapes() throws {
        var single = FindCoordinatorResponse()
        single.nodeID = 3
        single.host = "b3"
        single.port = 9092
        let old = try self.frame(header: KafkaStruct(values: [.int32(5)]), headerVersion: 0) { try single.encode(into: &$0, version: 2) }
        guard case .rewritten(let oldRewritten, _, _) = self.rewriter.rewrite(old, for: self.request(.findCoordinator, 2)) else {
            Issue.record("v2 must be rewritten")
            return
        }
        let oldDecoded = try FindCoordinatorResponse(decoding: try self.body(of: oldRewritten, key: .findCoordinator, version: 2), version: 2)
        #expect(oldDecoded.host == "proxy.local" && oldDecoded.port == 20003)

        var batched = FindCoordinatorResponse()
        var coordinator = FindCoordinatorResponse.Coordinator()
        coordinator.key = "group-a"
        coordinator.nodeID = 4
        coordinator.host = "b4"
        coordinator.port = 9093
        var failed = FindCoordinatorResponse.Coordinator()
        failed.key = "group-b"
        failed.nodeID = -1
        failed.errorCode = 15  // COORDINATOR_NOT_AVAILABLE: no endpoint to rewrite
        batched.coordinators = [coordinator, failed]
        let new = try self.frame(header: KafkaStruct(values: [.int32(5)]), headerVersion: 1) { try batched.encode(into: &$0, version: 4) }
        guard case .rewritten(let newRewritten, let brokers, _) = self.rewriter.rewrite(new, for: self.request(.findCoordinator, 4)) else {
            Issue.record("v4 must be rewritten")
            return
        }
        #expect(brokers.map(\.nodeID) == [4])
        let newDecoded = try FindCoordinatorResponse(decoding: try self.body(of: newRewritten, key: .findCoordinator, version: 4), version: 4)
        #expect(newDecoded.coordinators[0].host == "proxy.local" && newDecoded.coordinators[0].port == 20004)
        #expect(newDecoded.coordinators[1] == failed)
    }

    @Test func describeClusterBrokersAreRewritten() throws {
        var response = DescribeClusterResponse()
        var broker = DescribeClusterResponse.DescribeClusterBroker()
        broker.brokerID = 9
        broker.host = "b9"
        broker.port = 9092
        response.brokers = [broker]
        let frame = try self.frame(header: KafkaStruct(values: [.int32(5)]), headerVersion: 1) { try response.encode(into: &$0, version: 1) }
        guard case .rewritten(let rewritten, _, _) = self.rewriter.rewrite(frame, for: self.request(.describeCluster, 1)) else {
            Issue.record("DescribeCluster must be rewritten")
            return
        }
        let decoded = try DescribeClusterResponse(decoding: try self.body(of: rewritten, key: .describeCluster, version: 1), version: 1)
        #expect(decoded.brokers.first?.host == "proxy.local" && decoded.brokers.first?.port == 20009)
    }

    @Test func apiVersionsAboveTheCodecAreClampedAndUnknownKeysKept() throws {
        var response = ApiVersionsResponse()
        var metadata = ApiVersionsResponse.ApiVersion()
        metadata.apiKey = APIKey.metadata.rawValue
        metadata.maxVersion = 99
        var produce = ApiVersionsResponse.ApiVersion()
        produce.apiKey = APIKey.produce.rawValue
        produce.maxVersion = 13  // today's newest: passes unchanged
        var unknown = ApiVersionsResponse.ApiVersion()
        unknown.apiKey = 4242
        unknown.maxVersion = 3
        response.apiKeys = [metadata, produce, unknown]
        let frame = try self.frame(header: KafkaStruct(values: [.int32(5)]), headerVersion: 0) { try response.encode(into: &$0, version: 3) }
        guard case .rewritten(let rewritten, _, let clamped) = self.rewriter.rewrite(frame, for: self.request(.apiVersions, 3)) else {
            Issue.record("ApiVersions must be clamped")
            return
        }
        #expect(clamped == [.metadata])
        let decoded = try ApiVersionsResponse(decoding: try self.body(of: rewritten, key: .apiVersions, version: 3), version: 3)
        #expect(decoded.apiKeys.map(\.maxVersion) == [13, 13, 3])
    }

    /// A client newer than the codec asks for ApiVersions v6: whatever the broker answers (here a v6 answer the
    /// codec cannot read, advertising versions beyond it), the client gets UNSUPPORTED_VERSION in the v0 format
    /// with the versions the proxy decodes, as a broker that does not know v6 would answer, and retries at one.
    @Test func apiVersionsAboveTheCodecAreAnsweredAsUnsupported() throws {
        let newest = try #require(APIDescriptor.lookup(.apiVersions)).validVersions
        #expect(newest == .range(0, 5))
        var brokerAnswer = ByteBuffer()
        brokerAnswer.writeMultipleIntegers(Int32(12), Int32(77), Int16(0), UInt8(2), Int16(18), Int16(0), Int16(6))
        guard case .rewritten(let answer, let brokers, let clamped) = self.rewriter.rewrite(
            brokerAnswer, for: InFlightRequest(apiKey: .apiVersions, apiVersion: 6, correlationID: 77, receivedAt: .now()))
        else {
            Issue.record("an ApiVersions request above the codec must get the proxy's answer")
            return
        }
        #expect(brokers.isEmpty && clamped == [.apiVersions])
        let (header, body) = try KafkaCodec.splitResponse(
            answer.getSlice(at: 4, length: answer.readableBytes - 4)!, apiKey: .apiVersions, apiVersion: 0)
        #expect(header.getInteger(at: header.readerIndex, as: Int32.self) == 77)
        let decoded = try ApiVersionsResponse(decoding: body, version: 0)
        #expect(decoded.errorCode == 35)
        #expect(decoded.apiKeys.map { [$0.apiKey, $0.minVersion, $0.maxVersion] } == [[18, 0, 5]])
        #expect(answer.getInteger(at: 0, as: Int32.self) == Int32(answer.readableBytes - 4))
    }

    @Test func aBrokerErrorAnsweredAtVersionZeroIsForwardedUntouched() throws {
        // A broker that does not support the requested ApiVersions version answers at v0 with error 35.
        var response = ApiVersionsResponse()
        response.errorCode = 35
        let frame = try self.frame(header: KafkaStruct(values: [.int32(5)]), headerVersion: 0) { try response.encode(into: &$0, version: 0) }
        guard case .undecodable = self.rewriter.rewrite(frame, for: self.request(.apiVersions, 3)) else {
            Issue.record("a v0 answer to a v3 request cannot decode at v3 and must be passed on")
            return
        }
    }

    @Test func onlyResponsesThatNameBrokersAreConsidered() {
        #expect(ResponseRewriter.mayRewrite(.metadata, version: 0))
        #expect(ResponseRewriter.mayRewrite(.produce, version: 10))
        #expect(!ResponseRewriter.mayRewrite(.produce, version: 9))
        #expect(ResponseRewriter.mayRewrite(.fetch, version: 16))
        #expect(!ResponseRewriter.mayRewrite(.fetch, version: 15))
        #expect(!ResponseRewriter.mayRewrite(.heartbeat, version: 4))
    }

    @Test func produceResponsesWithoutNodeEndpointsAreLeftAlone() throws {
        var checked = 0
        for frame in try Fixtures.all {
            guard case .response(let key, let version) = frame.kind, key == .produce, version >= 10 else { continue }
            guard case .unchanged = self.rewriter.rewrite(frame.bytes, for: self.request(key, version)),
                case .unchanged = self.rewriter.rewrite(
                    frame.bytes, for: self.request(key, version), facts: self.facts(of: frame.bytes, key, version))
            else {
                Issue.record("\(frame): a Produce response without NodeEndpoints must go through as it is")
                continue
            }
            checked += 1
        }
        #expect(checked > 0, "confluent-kafka's Produce v10 responses are in the fixtures")
    }

    /// A response's facts as the proxy's recorder reads them and hands them to the rewriter.
    private func facts(of frame: ByteBuffer, _ key: APIKey, _ version: Int16) -> Result<MessageFacts?, KafkaDecodingError> {
        Result { () throws(KafkaDecodingError) in
            try KafkaCodec.inspectResponse(frame.framePayload, apiKey: key, apiVersion: version, listingTopics: false)
        }
    }

    @Test func portsOutsideTheRangeAreNotMapped() {
        let mapping = BrokerPortMapping(base: 65000, bootstrapPort: 19092)
        #expect(mapping.port(for: 111) == 65111)
        #expect(mapping.port(for: 600) == nil)
        #expect(mapping.port(for: -1) == nil)
        #expect(BrokerPortMapping(base: 19000, bootstrapPort: 19092).port(for: 92) == nil, "never the bootstrap port")
    }
}

extension ResponseRewriterTests {
    /// KIP-951: a Produce v10 response that names new leaders in its tagged NodeEndpoints.
    @Test func produceNodeEndpointsAreRewritten() throws {
        let schema = MessageSchema.produceResponse.body
        guard case .array(.structure(let endpointSchema))? = schema.fields.first(where: { $0.name == "nodeEndpoints" })?.type else {
            Issue.record("ProduceResponse has no nodeEndpoints")
            return
        }
        var endpoint = KafkaStruct(values: [KafkaValue?](repeating: nil, count: endpointSchema.fields.count))
        endpoint.setValue(.int32(5), for: "nodeId", in: endpointSchema)
        endpoint.setValue(.string("b5"), for: "host", in: endpointSchema)
        endpoint.setValue(.int32(9092), for: "port", in: endpointSchema)
        endpoint.setValue(.null, for: "rack", in: endpointSchema)
        var body = KafkaStruct(values: [KafkaValue?](repeating: nil, count: schema.fields.count))
        body.setValue(.array([]), for: "responses", in: schema)
        body.setValue(.int32(0), for: "throttleTimeMs", in: schema)
        body.setValue(.array([.structure(endpoint)]), for: "nodeEndpoints", in: schema)
        let frame = try self.frame(header: KafkaStruct(values: [.int32(5)]), headerVersion: 1) {
            try KafkaCodec.encode(body, as: .produceResponse, version: 10, into: &$0)
        }
        guard case .rewritten(let rewritten, let brokers, _) = self.rewriter.rewrite(frame, for: self.request(.produce, 10)) else {
            Issue.record("NodeEndpoints must be rewritten")
            return
        }
        #expect(brokers == [BrokerEndpoint(nodeID: 5, host: "b5", port: 9092)])
        // The same with the facts read by the caller, as the proxy passes the recorder's.
        guard case .rewritten(let again, _, _) = self.rewriter.rewrite(
            frame, for: self.request(.produce, 10), facts: self.facts(of: frame, .produce, 10))
        else {
            Issue.record("NodeEndpoints must be rewritten when the facts come from the caller")
            return
        }
        #expect(again == rewritten)
        let decoded = try KafkaCodec.decode(.produceResponse, version: 10, from: try self.body(of: rewritten, key: .produce, version: 10))
        guard case .array(let endpoints)? = decoded.value("nodeEndpoints", in: schema), case .structure(let first)? = endpoints.first else {
            Issue.record("the rewritten response keeps its NodeEndpoints")
            return
        }
        #expect(first.value("host", in: endpointSchema) == .string("proxy.local"))
        #expect(first.value("port", in: endpointSchema) == .int32(20005))
        #expect(first.value("nodeId", in: endpointSchema) == .int32(5))
    }
}
