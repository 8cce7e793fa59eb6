import Foundation
import KafkaCodec
import NIOCore

/// The recorded frames in `Fixtures/` (see `Fixtures/README.md` for how `record_frames.py` made them:
/// a recording relay between kafka-python or confluent-kafka and a Tansu broker).
enum Fixtures {
    struct Frame: CustomStringConvertible {
        enum Kind { case request, response(APIKey, Int16) }
        var kind: Kind
        /// The whole frame, size prefix included.
        var bytes: ByteBuffer
        var line: Int
        var file: String

        var payload: ByteBuffer { self.bytes.getSlice(at: self.bytes.readerIndex + 4, length: self.bytes.readableBytes - 4)! }
        var description: String { "\(self.file):\(self.line)" }
    }

    static let names = ["kafka-python", "confluent-kafka"]

    static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures")
    }

    static func frames(_ name: String) throws -> [Frame] {
        let text = try String(contentsOf: self.directory.appendingPathComponent("\(name).frames"), encoding: .utf8)
        var frames: [Frame] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let words = line.split(separator: " ")
            guard let first = words.first, !first.hasPrefix("#") else { continue }
            switch (first, words.count) {
            case ("req", 2):
                frames.append(Frame(kind: .request, bytes: try self.hex(words[1]), line: number + 1, file: name))
            case ("res", 4):
                guard let key = Int16(words[1]), let version = Int16(words[2]) else { throw FixtureError(line: number + 1) }
                frames.append(Frame(
                    kind: .response(APIKey(rawValue: key), version), bytes: try self.hex(words[3]), line: number + 1,
                    file: name))
            default:
                throw FixtureError(line: number + 1)
            }
        }
        return frames
    }

    static var all: [Frame] {
        get throws { try self.names.flatMap { try self.frames($0) } }
    }

    /// `topic NAME records N compression CODEC` lines: what each fixture's producers were told to do.
    static func expectations(_ name: String) throws -> [(topic: String, records: Int, compression: String)] {
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

    struct FixtureError: Error { var line: Int }
}

extension Fixtures.Frame {
    /// Decodes with the size prefix, as `kafkascope decode` does.
    func decode() throws(KafkaDecodingError) -> (opaque: Bool, reencoded: ByteBuffer?) {
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

    var apiKey: APIKey {
        switch self.kind {
        case .request: KafkaCodec.peekRequestHeader(self.payload)!.apiKey
        case .response(let key, _): key
        }
    }
}
