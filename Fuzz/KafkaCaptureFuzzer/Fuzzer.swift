import FuzzSupport
import Foundation
import KafkaPCAP
import KafkaTestSupport

/// libFuzzer entry point: one input is one capture file, analysed as `kafkascope pcap` would into one report format,
/// chosen by the input's length so that a run covers every format (summary, jsonl with and without full decoding,
/// prometheus) at a quarter of the cost per input. The report text is built and dropped. Any trap is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let formats = CaptureFuzzTarget.formats
    CaptureFuzzTarget.run(Array(UnsafeBufferPointer(start: data, count: size)), formats: [formats[size % formats.count]])
    return 0
}

enum CaptureFuzzTarget {
    /// libpcap reads files, so each input is written to one file per process, in memory where /dev/shm exists,
    /// and removed when the process exits.
    static let path: String = {
        let directory = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        atexit { unlink(CaptureFuzzTarget.path) }
        return "\(directory)/kafkascope-capture-fuzz-\(getpid()).pcap"
    }()

    /// Every report `kafkascope pcap` makes: the formats, and jsonl with `--decode full`.
    static let formats: [(CaptureReport.Format, decodeFull: Bool)] = [(.summary, false), (.jsonl, false), (.jsonl, true), (.prometheus, false)]

    static func run(_ input: [UInt8], formats: [(CaptureReport.Format, decodeFull: Bool)] = Self.formats) {
        guard FileManager.default.createFile(atPath: Self.path, contents: Data(input)) else {
            fatalError("cannot write \(Self.path)")
        }
        for (format, decodeFull) in formats {
            var settings = CaptureReport.Settings()
            settings.format = format
            settings.decodeFull = decodeFull
            settings.secondThread = input.count % 3 == 0  // some inputs through the two-thread path
            var written = 0
            let report = CaptureReport(settings: settings) { written &+= $0.utf8.count }
            guard let capture = try? PacketCapture.open(file: Self.path) else { return }  // not a capture: exit 65
            _ = report.read(capture)
            _ = report.finish()
        }
    }
}

#if FUZZING
@_cdecl("KafkaCaptureFuzzer_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv, fuzzOneInput)
}
#else
/// Without `-DFUZZING` the target replays inputs (files named as arguments), or with
/// `--mutate COUNT SEED FILE...` runs COUNT mutations of the given captures.
@main
struct FuzzReplay {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.first == "--mutate" else {
            FuzzDriver.replay(arguments) { CaptureFuzzTarget.run($0) }
            return
        }
        guard arguments.count >= 4, let count = Int(arguments[1]), let seed = UInt64(arguments[2]) else {
            print("usage: KafkaCaptureFuzzer --mutate COUNT SEED CAPTURE...")
            exit(64)
        }
        let captures = arguments.dropFirst(3).map { path -> [UInt8] in
            guard let data = FileManager.default.contents(atPath: path) else {
                print("cannot read \(path)")
                exit(66)
            }
            return Array(data)
        }
        var mutator = CaptureMutator(seed: seed)
        for index in 0..<count {
            let mutated = mutator.mutate(captures[index % captures.count])
            CaptureFuzzTarget.run(mutated)
        }
        print("\(count) mutated captures in every format: no failure")
    }
}
#endif
