public import Foundation
public import KafkaCodec
public import NIOCore

/// The recorded frames in `Fixtures/` (see `Fixtures/README.md` for how `record_frames.py` made them:
/// a recording relay between kafka-python or confluent-kafka and a Tansu broker).
public enum Fixtures {
    public struct Frame: CustomStringConvertible, Sendable {
        public enum Kind: Sendable { case request, response(APIKey, Int16) }
        public var kind: Kind
        /// The whole frame, size prefix included.
        public var bytes: ByteBuffer
        public var line: Int
        public var file: String
        /// The `# connection N` block the frame was recorded in.
        public var connection: Int

        public var payload: ByteBuffer { self.bytes.framePayload }
        public var description: String { "\(self.file):\(self.line)" }
    }

    public static let names = ["kafka-python", "confluent-kafka"]
    /// Frames hand-encoded from the August 2026 schemas by `newest_frames.py`: the seven newest APIs and today's
    /// newest ApiVersions, Metadata, FindCoordinator, DescribeCluster, Produce and Fetch, which no broker or client
    /// available here speaks. Not a recording, so not among `names`.
    public static let newestVersions = "newest-versions"

    public static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("KafkaCodecTests/Fixtures")
    }

    public static func frames(_ name: String) throws -> [Frame] {
        let text = try String(contentsOf: self.directory.appendingPathComponent("\(name).frames"), encoding: .utf8)
        var frames: [Frame] = []
        var connection = 0
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let words = line.split(separator: " ")
            if line.hasPrefix("# connection "), let index = Int(words.last ?? "") { connection = index }
            guard let first = words.first, !first.hasPrefix("#") else { continue }
            switch (first, words.count) {
            case ("req", 2):
                frames.append(Frame(
                    kind: .request, bytes: try self.hex(words[1]), line: number + 1, file: name, connection: connection))
            case ("res", 4):
                guard let key = Int16(words[1]), let version = Int16(words[2]) else { throw FixtureError(line: number + 1) }
                frames.append(Frame(
                    kind: .response(APIKey(rawValue: key), version), bytes: try self.hex(words[3]), line: number + 1,
                    file: name, connection: connection))
            default:
                throw FixtureError(line: number + 1)
            }
        }
        return frames
    }

    public static var all: [Frame] {
        get throws { try self.names.flatMap { try self.frames($0) } }
    }

    /// `topic NAME records N compression CODEC` lines: what each fixture's producers were told to do.
    public static func expectations(_ name: String) throws -> [(topic: String, records: Int, compression: String)] {
        let text = try String(contentsOf: self.directory.appendingPathComponent("\(name).expect"), encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let words = line.split(separator: " ").map(String.init)
            return (words[1], Int(words[3]) ?? -1, words[5])
        }
    }

    private static func hex(_ text: Substring) throws -> ByteBuffer {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count / 2)
        var iterator = text.utf8.makeIterator()
        while let high = iterator.next() {
            guard let low = iterator.next(), let h = self.nibble(high), let l = self.nibble(low) else {
                throw FixtureError(line: 0)
            }
            bytes.append(h << 4 | l)
        }
        return ByteBuffer(bytes: bytes)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    public struct FixtureError: Error { public var line: Int }
}

extension Fixtures.Frame {
    /// Decodes with the size prefix, as `kafkascope decode` does.
    public func decode() throws(KafkaDecodingError) -> (opaque: Bool, reencoded: ByteBuffer?) {
        switch self.kind {
        case .request:
            switch try KafkaCodec.decodeRequest(prefixedFrame: self.bytes) {
            case .message(let request):
                return (false, try? KafkaCodec.encodeFrame { buffer throws(KafkaEncodingError) in
                    try KafkaCodec.encode(request, into: &buffer)
                })
            case .opaque: return (true, nil)
            }
        case .response(let key, let version):
            switch try KafkaCodec.decodeResponse(prefixedFrame: self.bytes, apiKey: key, apiVersion: version) {
            case .message(let response):
                return (false, try? KafkaCodec.encodeFrame { buffer throws(KafkaEncodingError) in
                    try KafkaCodec.encode(response, into: &buffer)
                })
            case .opaque: return (true, nil)
            }
        }
    }

    public var apiKey: APIKey {
        switch self.kind {
        case .request: KafkaCodec.peekRequestHeader(self.payload)!.apiKey
        case .response(let key, _): key
        }
    }
}

extension Fixtures {
    /// The requests of one recorded connection that got a response, in order, and those responses by
    /// correlation id: what a fake broker needs to replay the connection.
    public static func replayable(
        _ frames: [Frame],
        connection: Int
    ) -> (requests: [Frame], responses: [Int32: ByteBuffer]) {
        var responses: [Int32: ByteBuffer] = [:]
        for frame in frames where frame.connection == connection {
            if case .response = frame.kind { responses[frame.bytes.getInteger(at: 4, as: Int32.self)!] = frame.bytes }
        }
        let requests = frames.filter { frame in
            guard frame.connection == connection, case .request = frame.kind else { return false }
            return responses[KafkaCodec.peekRequestHeader(frame.payload)!.correlationID] != nil
        }
        return (requests, responses)
    }
}
