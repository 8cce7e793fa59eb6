import KafkaCodec
import NIOCore

/// Reads frames for reports, as the options ask: facts straight from the bytes, or decoded values as well.
struct FrameReader {
    /// Keep decoded requests and responses (`--decode full`).
    var keepDecoded: Bool
    /// Fill in `MessageFacts.topics`.
    var listTopics: Bool

    /// Whether requests with `key` are read for their facts only, straight from the bytes. ApiVersions requests
    /// are always decoded: the summary reports their client software.
    func inspects(_ key: APIKey?) -> Bool {
        !self.keepDecoded && key != .apiVersions
    }

    // Readings are built whole from values bound by patterns, which moves them: setting the fields of a reading
    // from a tuple's would copy every reference they hold, and this runs for every frame.
    func request(_ frame: ByteBuffer) -> RequestReading {
        if self.inspects(KafkaCodec.peekRequestHeader(frame)?.apiKey) {
            guard let (_, clientID, facts) = try? KafkaCodec.inspectRequest(frame, listingTopics: self.listTopics) else {
                return RequestReading()
            }
            return RequestReading(clientID: clientID, facts: facts)
        }
        guard case .message(let decoded)? = try? KafkaCodec.decodeRequest(frame) else { return RequestReading() }
        return RequestReading(clientIDText: decoded.clientID, facts: MessageInspector.facts(of: decoded), decoded: decoded)
    }

    /// Reads a request followed in parts: decoded from its structure, with its record batches counted as they
    /// passed.
    func request(_ skeleton: FrameSkeleton) -> RequestReading {
        guard case .message(let decoded)? = try? skeleton.decodeRequest() else { return RequestReading() }
        return RequestReading(
            clientIDText: decoded.clientID, facts: MessageInspector.facts(of: decoded, recordTallies: skeleton.recordTallies))
    }

    /// Reads a response followed in parts, as `request(_:)` reads a request.
    func response(_ skeleton: FrameSkeleton) -> ResponseReading {
        guard case .message(let decoded)? = try? skeleton.decodeResponse() else { return ResponseReading() }
        return ResponseReading(facts: MessageInspector.facts(of: decoded, recordTallies: skeleton.recordTallies))
    }

    /// Reads a response to a request with `header`.
    func response(_ frame: ByteBuffer, to header: RequestHeaderPrefix) -> ResponseReading {
        if !self.keepDecoded {
            let facts = try? KafkaCodec.inspectResponse(
                frame, apiKey: header.apiKey, apiVersion: header.apiVersion, listingTopics: self.listTopics)
            return ResponseReading(facts: facts ?? nil)
        }
        guard case .message(let decoded)? = try? KafkaCodec.decodeResponse(frame, apiKey: header.apiKey, apiVersion: header.apiVersion)
        else { return ResponseReading() }
        return ResponseReading(facts: MessageInspector.facts(of: decoded), decoded: decoded)
    }
}

/// What reports keep of a request frame: its facts, its client id and, where wanted, the decoded request.
struct RequestReading {
    /// The client id's bytes, when the facts were read from the bytes.
    var clientID: ByteBuffer?
    /// The client id, when the request was decoded.
    var clientIDText: String?
    var facts: MessageFacts?
    var decoded: KafkaRequest?
}

/// What reports keep of a response frame: its facts and, with `--decode full`, the decoded response.
struct ResponseReading {
    var facts: MessageFacts?
    var decoded: KafkaResponse?
}
