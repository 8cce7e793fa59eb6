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

    func request(_ frame: ByteBuffer) -> RequestReading {
        var reading = RequestReading()
        if self.inspects(KafkaCodec.peekRequestHeader(frame)?.apiKey) {
            if let read = try? KafkaCodec.inspectRequest(frame, listingTopics: self.listTopics) {
                reading.clientID = read.clientID
                reading.facts = read.facts
            }
        } else if case .message(let decoded)? = try? KafkaCodec.decodeRequest(frame) {
            reading.decoded = decoded
            reading.clientIDText = decoded.clientID
            reading.facts = APIDescriptor.lookup(decoded.apiKey).map { MessageInspector.facts(of: decoded.body, schema: $0.request.body) }
        }
        return reading
    }

    /// Reads a response to a request with `header`.
    func response(_ frame: ByteBuffer, to header: RequestHeaderPrefix) -> ResponseReading {
        var reading = ResponseReading()
        if !self.keepDecoded {
            reading.facts = (try? KafkaCodec.inspectResponse(
                frame, apiKey: header.apiKey, apiVersion: header.apiVersion, listingTopics: self.listTopics)) ?? nil
        } else if case .message(let decoded)? = try? KafkaCodec.decodeResponse(frame, apiKey: header.apiKey, apiVersion: header.apiVersion) {
            reading.decoded = decoded
            reading.facts = APIDescriptor.lookup(header.apiKey).map { MessageInspector.facts(of: decoded.body, schema: $0.response.body) }
        }
        return reading
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
