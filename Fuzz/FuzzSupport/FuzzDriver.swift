import Foundation
import KafkaCodec

/// What every fuzz target shares: libFuzzer's driver when built with `-sanitize=fuzzer -DFUZZING`, and otherwise a
/// replayer of saved inputs, so that a crash file reproduces with a plain debug build.
public enum FuzzDriver {
    public typealias Callback = @convention(c) (UnsafePointer<UInt8>, Int) -> CInt

    /// Hands over to libFuzzer, once the codec's process-wide schema tables are built: LeakSanitizer would
    /// otherwise report them as leaks of the first input.
    public static func run(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ callback: Callback) -> CInt {
        _ = (APIKey.metadata.name, MessageSchema.requestHeader, MessageSchema.responseHeader)
        var count = argc
        var arguments = argv
        return runFuzzerDriver(&count, &arguments, callback)
    }

    /// Runs `body` on each file named in `paths` and says which passed.
    public static func replay(_ paths: [String], _ body: ([UInt8]) -> Void) {
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("cannot read \(path)")
                continue
            }
            body(Array(data))
            print("\(path): no failure")
        }
    }
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt
#else
private func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt {
    fatalError("built without -DFUZZING: libFuzzer's driver is not linked")
}
#endif

/// Reads a fuzz input as a tape of choices: each read takes what it needs, and an exhausted tape reads as zeros
/// (so every input means something, and libFuzzer's mutations change choices rather than break a format).
public struct FuzzTape {
    private let bytes: [UInt8]
    private var position = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public var isEmpty: Bool { self.position >= self.bytes.count }

    public mutating func byte() -> UInt8 {
        defer { self.position += 1 }
        return self.position < self.bytes.count ? self.bytes[self.position] : 0
    }

    public mutating func uint16() -> UInt16 {
        UInt16(self.byte()) << 8 | UInt16(self.byte())
    }

    public mutating func uint64() -> UInt64 {
        (0..<8).reduce(0) { value, _ in value << 8 | UInt64(self.byte()) }
    }

    /// Up to `count` bytes, fewer at the tape's end.
    public mutating func bytes(_ count: Int) -> ArraySlice<UInt8> {
        let start = min(self.position, self.bytes.count)
        let end = min(start + count, self.bytes.count)
        self.position = max(self.position, end)
        return self.bytes[start..<end]
    }
}
