import KafkaCodec
import NIOCore
import Testing

@testable import KafkaProxy

/// What `--record-redact-sasl` records: the same bytes, frame for frame, with every SASL token zeroed.
@Suite struct SaslRedactorTests {
    static let secret = Array("s3cret-Pa55".utf8)

    // Hand-packed frames (size prefix included), after Kafka's protocol guide.
    static func frame(_ payload: [UInt8]) -> [UInt8] { withUnsafeBytes(of: Int32(payload.count).bigEndian, Array.init) + payload }
    static func i16(_ v: Int16) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
    static func i32(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
    static func string(_ s: String) -> [UInt8] { i16(Int16(s.utf8.count)) + Array(s.utf8) }
    static func requestHeader(_ key: Int16, _ version: Int16, _ correlation: Int32, flexible: Bool = false) -> [UInt8] {
        i16(key) + i16(version) + i32(correlation) + string("app") + (flexible ? [0] : [])
    }
    static func handshake(_ version: Int16, _ correlation: Int32) -> [UInt8] {
        frame(requestHeader(17, version, correlation) + string("PLAIN"))
    }
    static func handshakeAnswer(_ correlation: Int32) -> [UInt8] { frame(i32(correlation) + i16(0) + i32(1) + string("PLAIN")) }
    static func authenticate(_ token: [UInt8], version: Int16, _ correlation: Int32) -> [UInt8] {
        version >= 2
            ? frame(requestHeader(36, version, correlation, flexible: true) + [UInt8(token.count + 1)] + token + [0])
            : frame(requestHeader(36, version, correlation) + i32(Int32(token.count)) + token)
    }
    static func authenticateAnswer(_ token: [UInt8], version: Int16, _ correlation: Int32) -> [UInt8] {
        version >= 2
            ? frame(i32(correlation) + [0] + i16(0) + [0] + [UInt8(token.count + 1)] + token + [UInt8](repeating: 0, count: 8) + [0])
            : frame(i32(correlation) + i16(0) + i16(-1) + i32(Int32(token.count)) + token + [UInt8](repeating: 0, count: version >= 1 ? 8 : 0))
    }
    static let apiVersions = frame(requestHeader(18, 0, 9))

    /// Feeds `bytes` in parts of `size` and returns what would be recorded.
    static func record(_ bytes: [UInt8], stream: SaslRedactor.Stream, into redactor: inout SaslRedactor, partSize size: Int) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let part = ByteBuffer(bytes: bytes[index..<min(index + size, bytes.count)])
            for piece in redactor.record(part, stream: stream) { out += piece.readableBytesView }
            index += size
        }
        return out
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        haystack.count >= needle.count && (0...(haystack.count - needle.count)).contains { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    @Test(arguments: [1, 3, 7, 4096])
    func framedTokensAreBlankedAndEverythingElseKept(partSize: Int) throws {
        for version: Int16 in [0, 1, 2] {
            var redactor = SaslRedactor()
            let plain = [0] + Array("alice".utf8) + [0] + Self.secret
            let requests = Self.handshake(1, 1) + Self.authenticate(plain, version: version, 2) + Self.apiVersions
            let responses = Self.handshakeAnswer(1) + Self.authenticateAnswer(Self.secret, version: version, 2)
            let recordedRequests = Self.record(requests, stream: .requests, into: &redactor, partSize: partSize)
            let recordedResponses = Self.record(responses, stream: .responses, into: &redactor, partSize: partSize)
            #expect(recordedRequests.count == requests.count && recordedResponses.count == responses.count)
            #expect(!Self.contains(recordedRequests, Self.secret) && !Self.contains(recordedResponses, Self.secret), "v\(version)")
            #expect(!Self.contains(recordedRequests, Array("alice".utf8)), "the whole token is blanked, user name included")
            let blankedRequest = Self.authenticate([UInt8](repeating: 0, count: plain.count), version: version, 2)
            #expect(recordedRequests == Self.handshake(1, 1) + blankedRequest + Self.apiVersions)
            // The blanked frames still decode, so the recording reads back with `kafkascope pcap`.
            let payload = ByteBuffer(bytes: blankedRequest.dropFirst(4))
            guard case .message = try KafkaCodec.decodeRequest(payload) else {
                Issue.record("blanked SaslAuthenticate v\(version) request does not decode")
                continue
            }
            let answer = ByteBuffer(bytes: recordedResponses.dropFirst(Self.handshakeAnswer(1).count + 4))
            guard case .message = try KafkaCodec.decodeResponse(answer, apiKey: .saslAuthenticate, apiVersion: version) else {
                Issue.record("blanked SaslAuthenticate v\(version) response does not decode")
                continue
            }
        }
    }

    @Test(arguments: [1, 5, 4096])
    func legacyTokensAreBlankedUntilARequestFollows(partSize: Int) {
        var redactor = SaslRedactor()
        var recordedRequests: [UInt8] = []
        var recordedResponses: [UInt8] = []
        recordedRequests += Self.record(Self.handshake(0, 1), stream: .requests, into: &redactor, partSize: partSize)
        recordedResponses += Self.record(Self.handshakeAnswer(1), stream: .responses, into: &redactor, partSize: partSize)
        let token = Self.frame([0] + Array("bob".utf8) + [0] + Self.secret)
        recordedRequests += Self.record(token, stream: .requests, into: &redactor, partSize: partSize)
        let emptyAnswer = Self.frame([])
        recordedResponses += Self.record(emptyAnswer, stream: .responses, into: &redactor, partSize: partSize)
        recordedRequests += Self.record(Self.apiVersions, stream: .requests, into: &redactor, partSize: partSize)
        #expect(!Self.contains(recordedRequests, Self.secret))
        #expect(recordedRequests == Self.handshake(0, 1) + Self.frame([UInt8](repeating: 0, count: token.count - 4)) + Self.apiVersions)
        #expect(recordedResponses == Self.handshakeAnswer(1) + emptyAnswer)
    }

    @Test func largeFramesPassWithoutBeingHeld() {
        var redactor = SaslRedactor()
        let big = Self.frame(Self.requestHeader(0, 9, 5) + [UInt8](repeating: 7, count: 3 * SaslRedactor.maximumHeldFrame))
        var recorded = 0
        var largestPiece = 0
        var index = 0
        while index < big.count {
            for piece in redactor.record(ByteBuffer(bytes: big[index..<min(index + 65536, big.count)]), stream: .requests) {
                recorded += piece.readableBytes
                largestPiece = max(largestPiece, piece.readableBytes)
            }
            index += 65536
        }
        #expect(recorded == big.count)
        #expect(largestPiece <= 65536, "a Produce is passed on as it arrives")
    }
}
