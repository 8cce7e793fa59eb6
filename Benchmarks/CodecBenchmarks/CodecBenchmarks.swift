import KafkaCodec
import NIOCore

/// Release-mode codec benchmarks: `swift run -c release CodecBenchmarks`.
///
/// Each figure comes with a baseline measured in the same run on the same bytes: copying the frame once,
/// the least any decoder that looks at every byte could cost.
@main
struct CodecBenchmarks {
    static func main() throws {
        let produce = try Workloads.produceRequest()
        let fetch = try Workloads.fetchResponse()
        let metadata = try Workloads.metadataResponse()
        print("| benchmark | frame bytes | frames/s | MB/s | µs/frame | best µs/frame | copy baseline MB/s | ratio to copy |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        try self.report("Produce v9 request, decode (records as slices)", produce) {
            guard case .message = try KafkaCodec.decodeRequest(produce) else { fatalError("opaque") }
        }
        try self.report("Produce v9 request, decode + batch headers + CRC-32C", produce) {
            guard case .message(let request) = try KafkaCodec.decodeRequest(produce) else { fatalError("opaque") }
            try self.visitRecords(.structure(request.body)) { records in
                _ = try RecordBatchReader.read(records)
            }
        }
        try self.report("Fetch v12 response (1,000 partitions), decode", fetch) {
            guard case .message = try KafkaCodec.decodeResponse(fetch, apiKey: .fetch, apiVersion: 12) else { fatalError("opaque") }
        }
        try self.report("Metadata v12 response (1,000 partitions), decode + re-encode", metadata) {
            guard case .message(let response) = try KafkaCodec.decodeResponse(metadata, apiKey: .metadata, apiVersion: 12) else {
                fatalError("opaque")
            }
            var out = ByteBuffer()
            out.reserveCapacity(metadata.readableBytes)
            try KafkaCodec.encode(response, into: &out)
            precondition(out.readableBytes == metadata.readableBytes)
        }
        // The proxy's path: the generated typed struct, as address rewriting uses it.
        let metadataBody = metadata.getSlice(at: metadata.readerIndex + 5, length: metadata.readableBytes - 5)!
        let decodedMetadata = try MetadataResponse(decoding: metadataBody, version: 12)
        try self.report("Metadata v12 response (1,000 partitions), typed decode only", metadataBody) {
            _ = try MetadataResponse(decoding: metadataBody, version: 12)
        }
        try self.report("Metadata v12 response (1,000 partitions), typed encode only", metadataBody) {
            var out = ByteBuffer()
            out.reserveCapacity(metadataBody.readableBytes)
            try decodedMetadata.encode(into: &out, version: 12)
        }
        try self.report("Metadata v12 response (1,000 partitions), typed decode + re-encode", metadataBody) {
            let response = try MetadataResponse(decoding: metadataBody, version: 12)
            var out = ByteBuffer()
            out.reserveCapacity(metadataBody.readableBytes)
            try response.encode(into: &out, version: 12)
            precondition(out.readableBytes == metadataBody.readableBytes)
        }
    }

    static func visitRecords(_ value: KafkaValue, _ body: (ByteBuffer) throws -> Void) throws {
        switch value {
        case .records(let records): try body(records)
        case .array(let elements): for element in elements { try self.visitRecords(element, body) }
        case .structure(let value): for case let element? in value.values { try self.visitRecords(element, body) }
        default: break
        }
    }

    static func report(_ name: String, _ frame: ByteBuffer, _ operation: () throws -> Void) throws {
        // `CodecBenchmarks Metadata` runs only the benchmarks whose name contains that word, for profiling.
        if let only = CommandLine.arguments.dropFirst().first, !name.contains(only) { return }
        let (seconds, best) = try self.secondsPerIteration(operation)
        let (baseline, _) = try self.secondsPerIteration {
            let copy = ByteBuffer(bytes: frame.readableBytesView)
            precondition(copy.readableBytes == frame.readableBytes)
        }
        let megabytes = Double(frame.readableBytes) / 1_000_000
        print(
            "| \(name) | \(frame.readableBytes) | \(self.format(1 / seconds)) | \(self.format(megabytes / seconds)) | "
                + "\(self.format(seconds * 1e6)) | \(self.format(best * 1e6)) | \(self.format(megabytes / baseline)) | "
                + "\(self.format(seconds / baseline))× |")
    }

    /// The median and the fastest of 15 rounds, each at least 50 ms long, after a warm-up round. This machine
    /// is shared, so the fastest round says what the code costs and the median what to expect.
    static func secondsPerIteration(_ operation: () throws -> Void) throws -> (median: Double, best: Double) {
        let clock = ContinuousClock()
        var iterations = 1
        while true {
            let elapsed = try clock.measure { for _ in 0..<iterations { try operation() } }
            if elapsed > .milliseconds(50) { break }
            iterations *= 2
        }
        var rounds: [Double] = []
        for _ in 0..<15 {
            let elapsed = try clock.measure { for _ in 0..<iterations { try operation() } }
            rounds.append(Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds))
        }
        let sorted = rounds.sorted()
        return (sorted[sorted.count / 2] / Double(iterations), sorted[0] / Double(iterations))
    }

    static func format(_ value: Double) -> String {
        value >= 100 ? String(Int(value.rounded())) : String((value * 100).rounded() / 100)
    }
}
