import FuzzSupport
import KafkaCodec
import NIOCore

/// libFuzzer entry point: splits the input into frames and decodes each one as a request, and as a response
/// to the key and version its first bytes name. Anything but a typed error or an opaque frame is a bug, and so
/// is a decoded request whose canonical encoding changes on a second round trip. (The first re-encoding need
/// not give the input's bytes: a bool byte of 2 or an over-long varint are accepted but written canonically.)
/// Facts are read from the same bytes (`inspectRequest`, `inspectResponse`), which must accept exactly what
/// decoding accepts.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTarget.run(ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size)))
    return 0
}

enum FuzzTarget {
    static func run(_ input: ByteBuffer) {
        var buffer = input
        let decoder = KafkaFrameDecoder(maximumFrameLength: 1 << 20)
        while let frame = try? decoder.nextFrame(&buffer) {
            let decoded = try? KafkaCodec.decodeRequest(frame)
            let inspected = Result { () throws(KafkaDecodingError) in try KafkaCodec.inspectRequest(frame).facts }
            Self.expectAgreement(decoded, inspected, "request")
            if case .message(let request)? = decoded {
                var encoded = ByteBuffer()
                try! KafkaCodec.encode(request, into: &encoded)
                guard case .message(let again) = try! KafkaCodec.decodeRequest(encoded) else {
                    preconditionFailure("a re-encoded request must decode")
                }
                var reencoded = ByteBuffer()
                try! KafkaCodec.encode(again, into: &reencoded)
                precondition(reencoded == encoded, "the canonical encoding must be stable")
            }
            if let (key, version) = frame.getMultipleIntegers(at: frame.readerIndex, as: (Int16, Int16).self) {
                let body = frame.framePayload
                let decoded = try? KafkaCodec.decodeResponse(body, apiKey: APIKey(rawValue: key), apiVersion: version)
                let inspected = Result { () throws(KafkaDecodingError) in
                    try KafkaCodec.inspectResponse(body, apiKey: APIKey(rawValue: key), apiVersion: version)
                }
                Self.expectAgreement(decoded, inspected, "response")
            }
        }
    }

    /// Facts are read where decoding gives a message, nil facts where it gives an opaque frame, and an error
    /// where it fails.
    private static func expectAgreement<Message>(
        _ decoded: DecodedFrame<Message>?, _ inspected: Result<MessageFacts?, KafkaDecodingError>, _ what: String
    ) {
        switch (decoded, inspected) {
        case (.message?, .success(_?)), (.opaque?, .success(nil)), (nil, .failure): return
        default: preconditionFailure("\(what): decoding gave \(String(describing: decoded)), reading facts \(inspected)")
        }
    }
}

#if FUZZING
@_cdecl("KafkaCodecFuzzer_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv, fuzzOneInput)
}
#else
/// Without `-DFUZZING` the target replays inputs (files named as arguments), e.g. a crash libFuzzer saved.
@main
struct FuzzReplay {
    static func main() {
        FuzzDriver.replay(Array(CommandLine.arguments.dropFirst())) { FuzzTarget.run(ByteBuffer(bytes: $0)) }
    }
}
#endif
