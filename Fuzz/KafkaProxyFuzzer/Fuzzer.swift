import FuzzSupport
import KafkaCodec
import KafkaProxy
import KafkaProxyMetrics
import KafkaTestSupport
import Logging
import NIOCore

/// libFuzzer entry point: one input is one client connection through the proxy's real pipelines
/// (`EmbeddedProxyConnection`), with its own metrics. The input is a tape of steps: raw bytes from the client or
/// the broker, generated requests and responses of every API and version (record batches with valid CRCs and
/// hostile headers, some mutated), and time passing. Afterwards the metrics are rendered, since a bad value may
/// only trap there. Any trap is a finding, and so is a byte reaching the broker that the client did not send.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    ProxyFuzzTarget.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

enum ProxyFuzzTarget {
    /// Steps per input at most, so that no input runs long.
    static let maximumSteps = 64

    static func run(_ input: [UInt8]) {
        let metrics = KafkascopeMetrics(labelCap: 20)
        var logger = Logger(label: "fuzz") { _ in FormattingLogHandler() }
        logger.logLevel = .trace  // every log line's metadata is built, as with --log-level trace
        var configuration = ProxyConfiguration(
            bootstrapServers: [HostAndPort(host: "127.0.0.1", port: 9092)], listen: HostAndPort(host: "127.0.0.1", port: 19092))
        configuration.maxFrameBytes = 1 << 16
        configuration.maxResponseFrameBytes = 1 << 16
        configuration.maxInFlightRequests = 8
        // Inputs advance time by up to 64 × 65 s: an idle timeout of 10 minutes lets some of them reach it.
        configuration.idleTimeout = .seconds(600)
        let connection = try! EmbeddedProxyConnection(configuration: configuration, metrics: metrics, logger: logger)
        var tape = FuzzTape(input)
        var sentByClient = ByteBuffer()
        var forwarded = ByteBuffer()
        var awaiting = AwaitedRequests()
        var correlationID: Int32 = 0

        func send(_ bytes: ByteBuffer) {
            sentByClient.writeImmutableBuffer(bytes)
            connection.clientSends(bytes)
        }

        for _ in 0..<Self.maximumSteps where !tape.isEmpty && connection.isOpen {
            let step = tape.byte()
            switch step % 6 {
            case 0:
                send(ByteBuffer(bytes: tape.bytes(Int(tape.uint16() % 2048))))
            case 1:
                var bytes = ByteBuffer(bytes: tape.bytes(Int(tape.uint16() % 2048)))
                // Most raw responses answer the oldest request, so that they get past pairing.
                if step & 0x80 == 0, let oldest = awaiting.oldest, bytes.readableBytes >= 8 {
                    bytes.setInteger(oldest.correlationID, at: 4)
                }
                connection.brokerSends(bytes)
            case 2:
                correlationID &+= 1
                var frames = HostileFrames(seed: tape.uint64())
                send(frames.request(correlationID: correlationID, mutate: step & 0x80 != 0))
            case 3:
                correlationID &+= 1
                var frames = HostileFrames(seed: tape.uint64())
                send(frames.produce(correlationID: correlationID, mutate: step & 0x80 != 0))
            case 4:
                var frames = HostileFrames(seed: tape.uint64())
                let request = awaiting.oldest ?? RequestHeaderPrefix(apiKey: .metadata, apiVersion: 12, correlationID: 0)
                connection.brokerSends(
                    frames.response(to: request.apiKey, version: request.apiVersion, correlationID: request.correlationID, mutate: step & 0x80 != 0))
            default:
                connection.advanceTime(by: .milliseconds(Int64(tape.uint16())))
            }
            forwarded.writeImmutableBuffer(connection.takeSentToBroker())
            awaiting.update(forwarded: forwarded)
            _ = connection.takeSentToClient()
        }
        connection.close()
        forwarded.writeImmutableBuffer(connection.takeSentToBroker())
        // The proxy forwards requests as they came: what reached the broker is what the client sent, or its start.
        precondition(
            forwarded.readableBytesView.elementsEqual(sentByClient.readableBytesView.prefix(forwarded.readableBytes)),
            "the proxy changed request bytes on their way to the broker")
        _ = metrics.exposition()
    }
}

/// The requests the broker has been sent and not yet answered, as read back from the forwarded bytes.
struct AwaitedRequests {
    private var frames: [RequestHeaderPrefix] = []
    private var parsed = 0

    var oldest: RequestHeaderPrefix? { self.frames.first }

    mutating func update(forwarded: ByteBuffer) {
        var rest = forwarded.getSlice(at: forwarded.readerIndex + self.parsed, length: forwarded.readableBytes - self.parsed)!
        while let size = rest.getInteger(at: rest.readerIndex, as: Int32.self), size >= 0, rest.readableBytes >= 4 + Int(size) {
            let frame = rest.getSlice(at: rest.readerIndex + 4, length: Int(size))!
            if let header = KafkaCodec.peekRequestHeader(frame) { self.frames.append(header) }
            rest.moveReaderIndex(forwardBy: 4 + Int(size))
            self.parsed += 4 + Int(size)
        }
        if self.frames.count > 16 { self.frames.removeFirst(self.frames.count - 16) }
    }
}

/// Formats every message and its metadata, then drops it: the formatting is what may trap on hostile values.
struct FormattingLogHandler: LogHandler {
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { _, new in new }
        _ = "\(event.level) \(event.message) \(merged.map { "\($0)=\($1)" }.joined(separator: " "))".utf8.count
    }
}

#if FUZZING
@_cdecl("KafkaProxyFuzzer_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv, fuzzOneInput)
}
#else
/// Without `-DFUZZING` the target replays inputs (files named as arguments), or with `--random N` runs N inputs
/// of random bytes, for a smoke run in a plain build.
@main
struct FuzzReplay {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--random", arguments.count >= 2, let count = Int(arguments[1]) {
            var random = SeededRandom(seed: arguments.count > 2 ? UInt64(arguments[2]) ?? 1 : 1)
            for _ in 0..<count {
                ProxyFuzzTarget.run((0..<Int.random(in: 0...512, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) })
            }
            print("\(count) random inputs: no failure")
            return
        }
        FuzzDriver.replay(arguments, ProxyFuzzTarget.run)
    }
}
#endif
