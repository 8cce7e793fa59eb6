import KafkaCodec
import NIOCore

/// Reads frames for reports, as the options ask: facts straight from the bytes, or decoded values as well.
struct FrameReader {
    /// Keep decoded requests and responses (`--decode full`).
    var keepDecoded: Bool
    /// Fill in `MessageFacts.topics`.
    var listTopics: Bool

    /// Whether requests with `key` are read for their facts only; the others are decoded as well. ApiVersions
    /// requests always are: the summary reports their client software.
    func inspects(_ key: APIKey?) -> Bool {
        !self.keepDecoded && key != .apiVersions
    }

    // Readings are built whole from values bound by patterns, which moves them: setting the fields of a reading
    // from a tuple's would copy every reference they hold, and this runs for every frame.
    func request(_ frame: ByteBuffer) -> RequestReading {
        guard let (_, clientID, facts) = try? KafkaCodec.inspectRequest(frame, listingTopics: self.listTopics) else {
            return RequestReading()
        }
        guard !self.inspects(KafkaCodec.peekRequestHeader(frame)?.apiKey),
            case .message(let decoded)? = try? KafkaCodec.decodeRequest(frame)
        else { return RequestReading(clientID: clientID, facts: facts) }
        return RequestReading(clientIDText: decoded.clientID, facts: facts, decoded: decoded)
    }

    /// Reads a request followed in parts, with its record batches counted as they passed.
    func request(_ skeleton: FrameSkeleton) -> RequestReading {
        guard let (clientID, facts) = try? skeleton.inspectRequest(listingTopics: self.listTopics) else { return RequestReading() }
        return RequestReading(clientID: clientID, facts: facts)
    }

    /// Reads a response followed in parts, as `request(_:)` reads a request.
    func response(_ skeleton: FrameSkeleton) -> ResponseReading {
        ResponseReading(facts: (try? skeleton.inspectResponse(listingTopics: self.listTopics)) ?? nil)
    }

    /// Reads a response to a request with `header`; decoded as well with `keepDecoded`.
    func response(_ frame: ByteBuffer, to header: RequestHeaderPrefix) -> ResponseReading {
        let facts = try? KafkaCodec.inspectResponse(
            frame, apiKey: header.apiKey, apiVersion: header.apiVersion, listingTopics: self.listTopics)
        guard self.keepDecoded, let facts,
            case .message(let decoded)? = try? KafkaCodec.decodeResponse(frame, apiKey: header.apiKey, apiVersion: header.apiVersion)
        else { return ResponseReading(facts: facts ?? nil) }
        return ResponseReading(facts: facts, decoded: decoded)
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
