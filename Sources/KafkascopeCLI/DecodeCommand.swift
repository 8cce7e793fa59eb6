import ArgumentParser
import Foundation
import KafkaCodec
import NIOCore

/// `kafkascope decode`: one frame in, its JSON out.
struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode one Kafka frame (with its 4-byte size prefix) and print it as JSON.",
        discussion: """
            A request is read from its own header. A response needs the key and version of the request it \
            answers: --response --api-key K --api-version V. SASL secrets print as "<redacted>".
            """
    )

    @Argument(help: "File holding the frame; stdin when omitted or '-'.")
    var file: String?

    @Flag(help: "The input is hex text (white space ignored) instead of raw bytes.")
    var hex = false

    @Flag(help: "Decode a response rather than a request.")
    var response = false

    @Option(help: "API key of the request a response answers.")
    var apiKey: Int16?

    @Option(help: "API version of the request a response answers.")
    var apiVersion: Int16?

    func validate() throws {
        if self.response && (self.apiKey == nil || self.apiVersion == nil) {
            throw ValidationError("--response needs --api-key and --api-version")
        }
        if !self.response && (self.apiKey != nil || self.apiVersion != nil) {
            throw ValidationError("--api-key and --api-version apply to --response only; a request names its own")
        }
    }

    func run() throws {
        try self.reportingFailures(self.decode)
    }

    private func decode() throws {
        let input = try self.readInput()
        let frame = try self.hex ? Self.parseHex(input) : ByteBuffer(bytes: input)
        do {
            if self.response, let apiKey = self.apiKey, let apiVersion = self.apiVersion {
                switch try KafkaCodec.decodeResponse(
                    prefixedFrame: frame, apiKey: APIKey(rawValue: apiKey), apiVersion: apiVersion)
                {
                case .message(let message): print(JSONRenderer.render(message))
                case .opaque(let opaque): print(JSONRenderer.render(opaque, direction: "response"))
                }
            } else {
                switch try KafkaCodec.decodeRequest(prefixedFrame: frame) {
                case .message(let message): print(JSONRenderer.render(message))
                case .opaque(let opaque): print(JSONRenderer.render(opaque, direction: "request"))
                }
            }
        } catch {
            throw CommandFailure("kafkascope decode: \(error)", exitCode: 65)
        }
    }

    private func readInput() throws -> [UInt8] {
        if let file = self.file, file != "-" {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CommandFailure("kafkascope decode: cannot read \(file)", exitCode: 66)
            }
            return Array(data)
        }
        return Array(FileHandle.standardInput.readDataToEndOfFile())
    }

    static func parseHex(_ text: [UInt8]) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        var high: UInt8?
        for (position, character) in text.enumerated() {
            if character == UInt8(ascii: " ") || character == UInt8(ascii: "\n") || character == UInt8(ascii: "\t")
                || character == UInt8(ascii: "\r")
            {
                continue
            }
            guard let nibble = Self.nibble(character) else {
                throw CommandFailure("kafkascope decode: character \(position) of the input is not hex", exitCode: 65)
            }
            if let pending = high {
                buffer.writeInteger(pending << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        guard high == nil else {
            throw CommandFailure("kafkascope decode: the hex input has an odd number of digits", exitCode: 65)
        }
        return buffer
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
