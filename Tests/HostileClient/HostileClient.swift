import Foundation
import KafkaCodec
import KafkaTestSupport
import NIOCore

/// A hostile Kafka client for tests against a live proxy: for a while, over connections it reopens whenever they
/// close, it sends Produce requests whose batches have valid CRCs and impossible headers, generated frames of every
/// API and version (some mutated), and bytes that are no frame at all. It reads and drops whatever comes back.
/// It prints one JSON line of what it did.
///
/// Usage: HostileClient HOST PORT SECONDS SEED [KINDS]
/// KINDS is a comma-separated choice of produce, generated, mutated, half and garbage (default: all).
@main
struct HostileClient {
    enum Kind: String, CaseIterable {
        /// Produce requests whose batches have valid CRCs and impossible headers.
        case produce
        /// Well-formed frames of every API and version.
        case generated
        /// Generated frames with a few bytes changed.
        case mutated
        /// The first half of a frame, then the next frame.
        case half
        /// Bytes that are no frame.
        case garbage
    }

    static func main() throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 5 || arguments.count == 6, let port = UInt16(arguments[2]),
            let seconds = Double(arguments[3]), let seed = UInt64(arguments[4])
        else {
            FileHandle.standardError.write(Data("usage: HostileClient HOST PORT SECONDS SEED [KINDS]\n".utf8))
            exit(64)
        }
        let kinds = arguments.count == 6 ? arguments[5].split(separator: ",").compactMap { Kind(rawValue: String($0)) } : Kind.allCases
        guard !kinds.isEmpty else {
            FileHandle.standardError.write(Data("KINDS: produce, generated, mutated, half, garbage\n".utf8))
            exit(64)
        }
        signal(SIGPIPE, SIG_IGN)
        var frames = HostileFrames(seed: seed)
        var counts = (connections: 0, frames: 0, hostileProduce: 0, bytes: 0, closedByPeer: 0)
        let deadline = Date().addingTimeInterval(seconds)
        var correlationID: Int32 = 0
        while Date() < deadline {
            guard let socket = Socket(host: arguments[1], port: port) else {
                Thread.sleep(forTimeInterval: 0.05)
                continue
            }
            counts.connections += 1
            // A connection carries a few dozen frames, then goes, as a misbehaving client's would.
            for _ in 0..<Int.random(in: 1...40, using: &frames.random) where Date() < deadline {
                correlationID &+= 1
                let frame: ByteBuffer
                // Hostile Produce requests half of the time, when they are wanted.
                let kind = kinds.contains(.produce) && Bool.random(using: &frames.random) ? .produce : kinds.randomElement(using: &frames.random)!
                switch kind {
                case .produce:
                    frame = frames.produce(correlationID: correlationID, mutate: false)
                    counts.hostileProduce += 1
                case .generated, .mutated:
                    frame = frames.request(correlationID: correlationID, mutate: kind == .mutated)
                case .half:
                    // Half a frame, then the next: the proxy sees a frame whose size runs into the next one.
                    var whole = frames.request(correlationID: correlationID, mutate: false)
                    frame = whole.readSlice(length: whole.readableBytes / 2)!
                case .garbage:
                    frame = ByteBuffer(bytes: (0..<Int.random(in: 1...64, using: &frames.random)).map { _ in
                        UInt8.random(in: 0...255, using: &frames.random)
                    })
                }
                guard socket.send(frame) else {
                    counts.closedByPeer += 1
                    break
                }
                counts.frames += 1
                counts.bytes += frame.readableBytes
                if !socket.drain() {
                    counts.closedByPeer += 1
                    break
                }
            }
            socket.close()
        }
        print(#"{"connections": \#(counts.connections), "frames": \#(counts.frames), "hostile_produce": \#(counts.hostileProduce), "bytes": \#(counts.bytes), "closed_by_peer": \#(counts.closedByPeer)}"#)
    }
}

/// A blocking TCP socket with short timeouts.
final class Socket {
    private let descriptor: Int32

    init?(host: String, port: UInt16) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return nil }
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var timeout = timeval(tv_sec: 0, tv_usec: 20_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            return nil
        }
        self.descriptor = descriptor
    }

    /// False once the peer has closed.
    func send(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { bytes in
            var sent = 0
            while sent < bytes.count {
                let written = Glibc.send(self.descriptor, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
                guard written > 0 else { return false }
                sent += written
            }
            return true
        }
    }

    /// Reads and drops what has arrived, waiting at most the receive timeout; false once the peer has closed.
    func drain() -> Bool {
        var scratch = [UInt8](repeating: 0, count: 65_536)
        let count = recv(self.descriptor, &scratch, scratch.count, 0)
        return count != 0 && !(count < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    func close() {
        Glibc.close(self.descriptor)
    }
}
