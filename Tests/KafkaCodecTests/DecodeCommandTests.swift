import Foundation
import KafkaCodec
import KafkaTestSupport
import NIOCore
import Testing

/// `kafkascope decode` end to end: the real executable on recorded frames.
@Suite struct DecodeCommandTests {
    /// One request and its response of every API in the fixtures, decoded through the command line.
    @Test(arguments: Fixtures.names)
    func decodesARecordedFrameOfEveryAPI(fixture: String) throws {
        var seen = Set<String>()
        for frame in try Fixtures.frames(fixture) {
            var arguments = ["decode", "--hex"]
            let direction: String
            switch frame.kind {
            case .request: direction = "request"
            case .response(let key, let version):
                direction = "response"
                arguments += ["--response", "--api-key", "\(key.rawValue)", "--api-version", "\(version)"]
            }
            guard seen.insert("\(direction) \(frame.apiKey.rawValue)").inserted else { continue }
            let result = try KafkascopeProcess.run(arguments, stdin: Data(frame.bytes.hexDump(format: .plain).utf8))
            #expect(result.status == 0, "\(frame): \(result.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            #expect(json?["api"] as? String == frame.apiKey.name, "\(frame)")
            #expect(json?["direction"] as? String == direction)
            let header = json?["header"] as? [String: Any]
            #expect(header?["correlationId"] is Int, "\(frame): the header names its correlationId")
            #expect(json?["body"] is [String: Any])
        }
        #expect(seen.count >= 30)
    }

    @Test func recordBatchesShowAsTheirHeaders() throws {
        let produce = try #require(try Fixtures.frames("confluent-kafka").first { frame in
            if case .request = frame.kind { return frame.apiKey == .produce }
            return false
        })
        let result = try KafkascopeProcess.run(["decode", "--hex"], stdin: Data(produce.bytes.hexDump(format: .plain).utf8))
        #expect(result.status == 0)
        #expect(result.stdout.contains("\"recordCount\":"))
        #expect(result.stdout.contains("\"crcValid\":true"))
        #expect(result.stdout.contains("\"compression\":\"zstd\"") || result.stdout.contains("\"compression\":\"snappy\""))
        #expect(result.stdout.contains("\"partitionData\":[{\"index\":"), "names are the schema's in lowerCamelCase")
    }

    @Test func rawBytesFromAFileDecodeToo() throws {
        let frame = try #require(try Fixtures.frames("kafka-python").first)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kafkascope-\(UUID()).bin")
        try Data(frame.bytes.readableBytesView).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try KafkascopeProcess.run(["decode", file.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"api\":\"ApiVersions\""))
        #expect(result.stdout.contains("\"clientSoftwareName\":\"kafka-python\""))
    }

    @Test func saslSecretsAreRedacted() throws {
        let secret = "s3cr3t-password"
        let schema = MessageSchema.saslAuthenticateRequest.body
        var body = KafkaStruct(values: [KafkaValue?](repeating: nil, count: schema.fields.count))
        body.setValue(.bytes(ByteBuffer(string: "\u{0}alice\u{0}\(secret)")), for: "authBytes", in: schema)
        let header = KafkaStruct(values: [.int16(APIKey.saslAuthenticate.rawValue), .int16(2), .int32(9), .string("cli")])
        let request = KafkaRequest(apiKey: .saslAuthenticate, apiVersion: 2, headerVersion: 2, header: header, body: body)
        let frame = try KafkaCodec.encodeFrame { buffer throws(KafkaEncodingError) in try KafkaCodec.encode(request, into: &buffer) }
        let result = try KafkascopeProcess.run(["decode", "--hex"], stdin: Data(frame.hexDump(format: .plain).utf8))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"authBytes\":\"<redacted>\""))
        #expect(!result.stdout.contains(secret))
        #expect(!result.stdout.contains(Data(secret.utf8).base64EncodedString().prefix(12)))
    }

    @Test func malformedInputFailsWithOneLineNamingFieldAndOffset() throws {
        let frame = try #require(try Fixtures.frames("kafka-python").first { $0.apiKey == .metadata })
        var cut = frame.bytes.getSlice(at: 0, length: frame.bytes.readableBytes - 2)!
        cut.setInteger(Int32(cut.readableBytes - 4), at: 0)
        let result = try KafkascopeProcess.run(["decode", "--hex"], stdin: Data(cut.hexDump(format: .plain).utf8))
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("field "))
        #expect(result.stderr.contains("offset "))
        #expect(result.stderr.contains("Metadata"))
    }

    @Test func aResponseNeedsItsRequestsKeyAndVersion() throws {
        let result = try KafkascopeProcess.run(["decode", "--hex", "--response"], stdin: Data("00".utf8))
        #expect(result.status != 0)
        #expect(result.stderr.contains("--api-key"))
    }
}
