import CLibPCAP
import Glibc

/// One packet as libpcap hands it over; `bytes` is valid until the next call to `PacketCapture.next()`.
public struct CapturedPacket {
    /// Microseconds since the Unix epoch; nil when the capture's time is outside years 1 to 9999
    /// (`CaptureTime.microseconds`).
    public var timestamp: Int64?
    public var bytes: UnsafeRawBufferPointer
    /// The packet's length on the wire; more than `bytes.count` when the capture's snaplen cut it.
    public var originalLength: Int
}

/// Why a capture could not be opened or read.
public struct CaptureError: Error, CustomStringConvertible {
    public enum Kind: Sendable {
        /// The file is missing or unreadable.
        case unreadable
        /// The file is not a pcap or pcapng capture, or its header is damaged.
        case notACapture
        /// A live capture could not start (no such interface, no permission, bad filter).
        case liveCaptureFailed
    }

    public var kind: Kind
    public var description: String
}

/// A libpcap handle on a capture file or a live interface.
///
/// libpcap reads pcap and pcapng alike and tells the link type; packets come one at a time, so memory does not
/// depend on the file's size.
public final class PacketCapture {
    public enum Next {
        case packet(CapturedPacket)
        /// A live capture's read timeout passed with nothing to hand over.
        case idle
        case end
        /// The file ended inside a packet record, or the source failed; what was read before stands.
        case failed(String)
    }

    private let handle: OpaquePointer
    public let linkType: Int32
    /// The file's size, for progress reports; nil for live captures.
    public let fileSize: Int64?

    private init(handle: OpaquePointer, fileSize: Int64?) {
        self.handle = handle
        self.linkType = pcap_datalink(handle)
        self.fileSize = fileSize
    }

    deinit {
        pcap_close(self.handle)
    }

    /// Opens a pcap or pcapng file.
    public static func open(file path: String) throws(CaptureError) -> PacketCapture {
        var size = stat()
        guard stat(path, &size) == 0 else {
            throw CaptureError(kind: .unreadable, description: "\(path): \(String(cString: strerror(errno)))")
        }
        guard let file = fopen(path, "rb") else {
            throw CaptureError(kind: .unreadable, description: "\(path): \(String(cString: strerror(errno)))")
        }
        // stdio's default buffer (the file system's block size) stays: glibc reads a packet larger than it straight
        // into libpcap's buffer, and a 1 MiB buffer, which copied every byte once more, made the bulk capture 8 %
        // slower and the frame-heavy one no faster. (A `setvbuf` without a buffer of its own changes no size.)
        // Only the thread that reads packets uses the file, so stdio need not lock it for each of those freads.
        __fsetlocking(file, Int32(FSETLOCKING_BYCALLER))
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let handle = pcap_fopen_offline_with_tstamp_precision(file, UInt32(PCAP_TSTAMP_PRECISION_MICRO), &errorBuffer) else {
            fclose(file)
            let reason = Self.text(errorBuffer)
            throw CaptureError(kind: .notACapture, description: "\(path): not a pcap or pcapng capture (\(reason))")
        }
        return PacketCapture(handle: handle, fileSize: Int64(size.st_size))
    }

    /// Starts capturing on an interface; `filter` is a BPF expression such as `tcp port 9092`.
    public static func live(interface: String, filter: String?, snapshotLength: Int32 = 262_144) throws(CaptureError) -> PacketCapture {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let handle = pcap_create(interface, &errorBuffer) else {
            throw CaptureError(kind: .liveCaptureFailed, description: "\(interface): \(Self.text(errorBuffer))")
        }
        pcap_set_snaplen(handle, snapshotLength)
        pcap_set_timeout(handle, 100)
        pcap_set_immediate_mode(handle, 1)
        pcap_set_buffer_size(handle, 16 << 20)
        let status = pcap_activate(handle)
        guard status >= 0 else {
            let reason = String(cString: pcap_geterr(handle))
            pcap_close(handle)
            throw CaptureError(kind: .liveCaptureFailed, description: "cannot capture on \(interface): \(reason)")
        }
        let capture = PacketCapture(handle: handle, fileSize: nil)
        if let filter { try capture.apply(filter: filter) }
        return capture
    }

    private func apply(filter: String) throws(CaptureError) {
        var program = bpf_program()
        guard pcap_compile(self.handle, &program, filter, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw CaptureError(kind: .liveCaptureFailed, description: "bad capture filter '\(filter)': \(String(cString: pcap_geterr(self.handle)))")
        }
        defer { pcap_freecode(&program) }
        guard pcap_setfilter(self.handle, &program) == 0 else {
            throw CaptureError(kind: .liveCaptureFailed, description: "cannot apply the filter: \(String(cString: pcap_geterr(self.handle)))")
        }
    }

    /// A NUL-terminated C error buffer as text.
    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func next() -> Next {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        switch pcap_next_ex(self.handle, &header, &data) {
        case 1:
            let header = header!.pointee
            let timestamp = CaptureTime.microseconds(seconds: Int64(header.ts.tv_sec), microseconds: Int64(header.ts.tv_usec))
            let bytes = UnsafeRawBufferPointer(start: data, count: Int(header.caplen))
            return .packet(CapturedPacket(timestamp: timestamp, bytes: bytes, originalLength: Int(header.len)))
        case 0:
            return .idle
        case PCAP_ERROR_BREAK:
            return .end
        default:
            return .failed(String(cString: pcap_geterr(self.handle)))
        }
    }

    /// How far into the file reading has come, for progress reports.
    public var fileOffset: Int64? {
        guard self.fileSize != nil, let file = pcap_file(self.handle) else { return nil }
        return Int64(ftello(file))
    }

    /// Makes a blocked `next()` on another thread return `.end`.
    public func stop() {
        pcap_breakloop(self.handle)
    }
}

@available(*, unavailable)
extension PacketCapture: Sendable {}
