import KafkaCodec
import NIOCore

/// Rewrites the responses that name brokers, so clients keep connecting through the proxy, and clamps
/// ApiVersions so that every version a client picks stays decodable. Every other response is left alone.
struct ResponseRewriter: Sendable {
    enum Outcome {
        /// Forward the original bytes.
        case unchanged
        /// Forward `frame` (size prefix included) instead; `brokers` are the upstream endpoints it named.
        case rewritten(frame: ByteBuffer, brokers: [BrokerEndpoint], clampedAPIs: [APIKey])
        /// The response could not be decoded; the original bytes are forwarded and the failure counted.
        case undecodable(KafkaDecodingError)
    }

    let advertisedHost: String
    let portMapping: BrokerPortMapping

    /// Whether a response to this request may need rewriting; everything else skips the rewriter entirely.
    static func mayRewrite(_ apiKey: APIKey, version: Int16) -> Bool {
        switch apiKey {
        case .metadata, .findCoordinator, .describeCluster, .apiVersions, .shareFetch, .shareAcknowledge: true
        case .produce: version >= 10  // KIP-951 NodeEndpoints
        case .fetch: version >= 16
        default: false
        }
    }

    /// The responses whose endpoints are KIP-951's `nodeEndpoints` as a tagged field of the message itself (share
    /// responses carry theirs as a plain field).
    private static func endpointsOnlyAsTaggedField(_ apiKey: APIKey) -> Bool {
        apiKey == .produce || apiKey == .fetch
    }

    /// `frame` is a whole response including its size prefix; `facts`, its facts when the caller has read them
    /// already (the recorder does), else they are read here when needed.
    func rewrite(
        _ frame: ByteBuffer, for request: InFlightRequest, facts: Result<MessageFacts?, KafkaDecodingError>? = nil
    ) -> Outcome {
        if request.apiKey == .apiVersions, let known = APIDescriptor.lookup(.apiVersions)?.validVersions,
            request.apiVersion > known.highest
        {
            return .rewritten(
                frame: Self.unsupportedApiVersions(correlationID: request.correlationID, supported: known),
                brokers: [], clampedAPIs: [.apiVersions])
        }
        let payload = frame.framePayload
        do {
            // Brokers add endpoints (KIP-951) only to responses that redirect a client, as a top-level tagged
            // field: reading the facts, a fraction of decoding's cost, rules out every other such response.
            if Self.endpointsOnlyAsTaggedField(request.apiKey) {
                let read = try facts?.get()
                    ?? KafkaCodec.inspectResponse(payload, apiKey: request.apiKey, apiVersion: request.apiVersion, listingTopics: false)
                if read?.hasTopLevelTaggedFields == false { return .unchanged }
            }
            let (header, body) = try KafkaCodec.splitResponse(payload, apiKey: request.apiKey, apiVersion: request.apiVersion)
            guard let rewritten = try self.rewriteBody(body, request) else { return .unchanged }
            var out = ByteBuffer()
            out.reserveCapacity(4 + header.readableBytes + rewritten.body.readableBytes)
            out.writeInteger(Int32(header.readableBytes + rewritten.body.readableBytes))
            out.writeImmutableBuffer(header)
            out.writeImmutableBuffer(rewritten.body)
            return .rewritten(frame: out, brokers: rewritten.brokers, clampedAPIs: rewritten.clamped)
        } catch let error as KafkaDecodingError {
            return .undecodable(error)
        } catch {
            // Encoding our own decoded values back cannot fail short of a codec bug; forward untouched.
            return .undecodable(KafkaDecodingError(.invalidLength, offset: 0, "re-encoding failed: \(error)"))
        }
    }

    /// What a broker answers to an ApiVersions version it does not know (KIP-511): UNSUPPORTED_VERSION in the
    /// v0 format, which every client reads, with the versions it does know, so that the client asks again at one
    /// of those. A newer client's request is answered so whatever the broker said, which the codec cannot read:
    /// no client may learn of versions the proxy cannot decode.
    static func unsupportedApiVersions(correlationID: Int32, supported: VersionRange) -> ByteBuffer {
        var response = ApiVersionsResponse()
        response.errorCode = KafkaErrorName.unsupportedVersion
        var range = ApiVersionsResponse.ApiVersion()
        range.apiKey = APIKey.apiVersions.rawValue
        range.minVersion = supported.lowest
        range.maxVersion = supported.highest
        response.apiKeys = [range]
        var body = ByteBuffer()
        // Encoding at v0 a value made here cannot fail: it has no field v0 lacks.
        try! response.encode(into: &body, version: 0)
        var frame = ByteBuffer()
        frame.writeMultipleIntegers(Int32(4 + body.readableBytes), correlationID)
        frame.writeImmutableBuffer(body)
        return frame
    }

    private struct Rewritten {
        var body: ByteBuffer
        var brokers: [BrokerEndpoint] = []
        var clamped: [APIKey] = []
    }

    private func rewriteBody(_ body: ByteBuffer, _ request: InFlightRequest) throws -> Rewritten? {
        let version = request.apiVersion
        var out = ByteBuffer()
        switch request.apiKey {
        case .metadata:
            var response = try MetadataResponse(decoding: body, version: version)
            let seen = self.pointAtProxy(&response.brokers, nodeID: \.nodeID, host: \.host, port: \.port)
            try response.encode(into: &out, version: version)
            return Rewritten(body: out, brokers: seen)
        case .findCoordinator:
            var response = try FindCoordinatorResponse(decoding: body, version: version)
            var seen: [BrokerEndpoint] = []
            if version < 4 {
                if response.errorCode == 0 {
                    seen.append(BrokerEndpoint(nodeID: response.nodeID, host: response.host, port: response.port))
                    if let (host, port) = self.proxyEndpoint(for: response.nodeID) {
                        response.host = host
                        response.port = port
                    }
                }
            } else {
                // Failed lookups carry node -1 and no address: leave them as they are.
                let found = response.coordinators.indices.filter { response.coordinators[$0].errorCode == 0 }
                seen = self.pointAtProxy(&response.coordinators, at: found, nodeID: \.nodeID, host: \.host, port: \.port)
            }
            guard !seen.isEmpty else { return nil }
            try response.encode(into: &out, version: version)
            return Rewritten(body: out, brokers: seen)
        case .describeCluster:
            var response = try DescribeClusterResponse(decoding: body, version: version)
            let seen = self.pointAtProxy(&response.brokers, nodeID: \.brokerID, host: \.host, port: \.port)
            try response.encode(into: &out, version: version)
            return Rewritten(body: out, brokers: seen)
        case .apiVersions:
            var response = try ApiVersionsResponse(decoding: body, version: version)
            var clamped: [APIKey] = []
            for index in response.apiKeys.indices {
                let key = APIKey(rawValue: response.apiKeys[index].apiKey)
                // Unknown keys pass as the broker sent them: the client may use them, opaquely.
                guard let known = APIDescriptor.lookup(key)?.validVersions,
                    response.apiKeys[index].maxVersion > known.highest
                else { continue }
                response.apiKeys[index].maxVersion = max(known.highest, response.apiKeys[index].minVersion)
                clamped.append(key)
            }
            guard !clamped.isEmpty else { return nil }
            try response.encode(into: &out, version: version)
            return Rewritten(body: out, clamped: clamped)
        default:
            return try self.rewriteNodeEndpoints(body, request)
        }
    }

    /// Produce v10+, Fetch v16+, ShareFetch and ShareAcknowledge carry a `nodeEndpoints` list (KIP-951); these
    /// go through the schema tables, and only when the list is present is anything re-encoded.
    private func rewriteNodeEndpoints(_ body: ByteBuffer, _ request: InFlightRequest) throws -> Rewritten? {
        guard let schema = APIDescriptor.lookup(request.apiKey)?.response,
            let field = schema.body.index(of: "nodeEndpoints"),
            case .array(.structure(let endpointSchema)) = schema.body.fields[field].type
        else { return nil }
        var response = try KafkaCodec.decode(schema, version: request.apiVersion, from: body)
        guard case .array(let endpoints)? = response.values[field], !endpoints.isEmpty else { return nil }
        var seen: [BrokerEndpoint] = []
        var rewritten: [KafkaValue] = []
        for case .structure(var endpoint) in endpoints {
            guard case .int32(let nodeID)? = endpoint.value("nodeId", in: endpointSchema),
                case .string(let host)? = endpoint.value("host", in: endpointSchema),
                case .int32(let port)? = endpoint.value("port", in: endpointSchema)
            else { return nil }
            seen.append(BrokerEndpoint(nodeID: nodeID, host: host, port: port))
            if let (proxyHost, proxyPort) = self.proxyEndpoint(for: nodeID) {
                endpoint.setValue(.string(proxyHost), for: "host", in: endpointSchema)
                endpoint.setValue(.int32(proxyPort), for: "port", in: endpointSchema)
            }
            rewritten.append(.structure(endpoint))
        }
        response.values[field] = .array(rewritten)
        var out = ByteBuffer()
        try KafkaCodec.encode(response, as: schema, version: request.apiVersion, into: &out)
        return Rewritten(body: out, brokers: seen)
    }

    /// Points the endpoints at `positions` (all of them by default) at the proxy, and returns them as the broker
    /// named them.
    private func pointAtProxy<Endpoint>(
        _ endpoints: inout [Endpoint],
        at positions: [Int]? = nil,
        nodeID: KeyPath<Endpoint, Int32>,
        host: WritableKeyPath<Endpoint, String>,
        port: WritableKeyPath<Endpoint, Int32>
    ) -> [BrokerEndpoint] {
        var seen: [BrokerEndpoint] = []
        for index in positions ?? Array(endpoints.indices) {
            let node = endpoints[index][keyPath: nodeID]
            seen.append(BrokerEndpoint(nodeID: node, host: endpoints[index][keyPath: host], port: endpoints[index][keyPath: port]))
            if let (proxyHost, proxyPort) = self.proxyEndpoint(for: node) {
                endpoints[index][keyPath: host] = proxyHost
                endpoints[index][keyPath: port] = proxyPort
            }
        }
        return seen
    }

    /// The proxy's listener for `nodeID`; nil when no port can be mapped, and the endpoint is left as it was.
    private func proxyEndpoint(for nodeID: Int32) -> (String, Int32)? {
        self.portMapping.port(for: nodeID).map { (self.advertisedHost, Int32($0)) }
    }
}
