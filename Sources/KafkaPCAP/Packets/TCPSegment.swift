/// The TCP segment inside one captured packet, found through its link-layer and IP headers.
public struct TCPSegment {
    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let fin = Flags(rawValue: 0x01)
        public static let syn = Flags(rawValue: 0x02)
        public static let rst = Flags(rawValue: 0x04)
        public static let ack = Flags(rawValue: 0x10)
    }

    public var source: Endpoint
    public var destination: Endpoint
    public var sequence: UInt32
    /// The next byte the sender expects from its peer, when `flags` has `.ack`.
    public var acknowledgment: UInt32
    public var flags: Flags
    /// The payload bytes the capture holds (valid as long as the packet's bytes are).
    public var payload: UnsafeRawBufferPointer
    /// Payload bytes on the wire that the capture's snaplen cut off.
    public var missingBytes: Int
}

/// Link types this reader understands (libpcap's `DLT_` values as `pcap_datalink` reports them).
enum LinkType {
    static let null: Int32 = 0
    static let ethernet: Int32 = 1
    static let raw: Int32 = 12  // DLT_RAW on Linux; LINKTYPE_RAW (101) in files is mapped to this
    static let rawAlternative: Int32 = 14
    static let loop: Int32 = 108
    static let linuxSLL: Int32 = 113
    static let linuxSLL2: Int32 = 276
}

extension TCPSegment {
    /// Reads the segment out of a packet of `linkType`; nil for anything that is not TCP over IPv4 or IPv6, or
    /// whose headers the snaplen cut.
    static func parse(_ packet: CapturedPacket, linkType: Int32) -> TCPSegment? {
        let bytes = packet.bytes
        guard let (etherType, ipStart) = Self.network(bytes, linkType: linkType) else { return nil }
        let missing = max(0, packet.originalLength - bytes.count)
        switch etherType {
        case 0x0800: return Self.ipv4(bytes, at: ipStart, missing: missing)
        case 0x86DD: return Self.ipv6(bytes, at: ipStart, missing: missing)
        default: return nil
        }
    }

    /// The network protocol (as an EtherType) and where its header starts.
    private static func network(_ bytes: UnsafeRawBufferPointer, linkType: Int32) -> (UInt16, Int)? {
        switch linkType {
        case LinkType.ethernet:
            guard bytes.count >= 14 else { return nil }
            var etherType = bytes.bigEndian(UInt16.self, at: 12)
            var start = 14
            while etherType == 0x8100 || etherType == 0x88A8 {  // 802.1Q and 802.1ad tags
                guard bytes.count >= start + 4 else { return nil }
                etherType = bytes.bigEndian(UInt16.self, at: start + 2)
                start += 4
            }
            return (etherType, start)
        case LinkType.linuxSLL:
            guard bytes.count >= 16 else { return nil }
            return (bytes.bigEndian(UInt16.self, at: 14), 16)
        case LinkType.linuxSLL2:
            guard bytes.count >= 20 else { return nil }
            return (bytes.bigEndian(UInt16.self, at: 0), 20)
        case LinkType.null, LinkType.loop:
            guard bytes.count >= 4 else { return nil }
            // The address family, in the writer's byte order for NULL and big-endian for LOOP.
            let raw = bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
            let family = min(raw, raw.byteSwapped)
            switch family {
            case 2: return (0x0800, 4)
            case 10, 24, 28, 30: return (0x86DD, 4)  // AF_INET6 differs between systems
            default: return nil
            }
        case LinkType.raw, LinkType.rawAlternative, 101:
            guard let first = bytes.first else { return nil }
            return (first >> 4 == 6 ? 0x86DD : 0x0800, 0)
        default:
            return nil
        }
    }

    private static func ipv4(_ bytes: UnsafeRawBufferPointer, at start: Int, missing: Int) -> TCPSegment? {
        guard bytes.count >= start + 20, bytes[start] >> 4 == 4, bytes[start + 9] == 6 else { return nil }
        let headerLength = Int(bytes[start] & 0x0F) * 4
        let totalLength = Int(bytes.bigEndian(UInt16.self, at: start + 2))
        // A fragment other than the first carries no TCP header.
        guard headerLength >= 20, bytes.bigEndian(UInt16.self, at: start + 6) & 0x1FFF == 0 else { return nil }
        let source = Endpoint(high: UInt64(bytes.bigEndian(UInt32.self, at: start + 12)) << 32, low: 0, isIPv6: false, port: 0)
        let destination = Endpoint(high: UInt64(bytes.bigEndian(UInt32.self, at: start + 16)) << 32, low: 0, isIPv6: false, port: 0)
        // Segmentation offload can leave the length 0; then the capture's own length has to do.
        let end = totalLength >= headerLength ? start + totalLength : bytes.count + missing
        return self.tcp(bytes, at: start + headerLength, end: end, source: source, destination: destination)
    }

    private static func ipv6(_ bytes: UnsafeRawBufferPointer, at start: Int, missing: Int) -> TCPSegment? {
        guard bytes.count >= start + 40, bytes[start] >> 4 == 6 else { return nil }
        let payloadLength = Int(bytes.bigEndian(UInt16.self, at: start + 4))
        var next = bytes[start + 6]
        var position = start + 40
        // Extension headers that may come before TCP.
        while next == 0 || next == 43 || next == 60 || next == 44 {
            guard bytes.count >= position + 8 else { return nil }
            if next == 44 {
                guard bytes.bigEndian(UInt16.self, at: position + 2) & 0xFFF8 == 0 else { return nil }  // not the first fragment
                next = bytes[position]
                position += 8
            } else {
                next = bytes[position]
                position += (Int(bytes[position + 1]) + 1) * 8
            }
        }
        guard next == 6 else { return nil }
        let source = Endpoint(
            high: bytes.bigEndian(UInt64.self, at: start + 8), low: bytes.bigEndian(UInt64.self, at: start + 16), isIPv6: true, port: 0)
        let destination = Endpoint(
            high: bytes.bigEndian(UInt64.self, at: start + 24), low: bytes.bigEndian(UInt64.self, at: start + 32), isIPv6: true, port: 0)
        let end = payloadLength > 0 ? start + 40 + payloadLength : bytes.count + missing
        return self.tcp(bytes, at: position, end: end, source: source, destination: destination)
    }

    private static func tcp(
        _ bytes: UnsafeRawBufferPointer, at start: Int, end: Int, source: Endpoint, destination: Endpoint
    ) -> TCPSegment? {
        guard bytes.count >= start + 20 else { return nil }
        let dataOffset = Int(bytes[start + 12] >> 4) * 4
        guard dataOffset >= 20, end >= start + dataOffset else { return nil }
        var source = source
        var destination = destination
        source.port = bytes.bigEndian(UInt16.self, at: start)
        destination.port = bytes.bigEndian(UInt16.self, at: start + 2)
        let payloadStart = min(start + dataOffset, bytes.count)
        let capturedEnd = min(end, bytes.count)
        let payload = UnsafeRawBufferPointer(rebasing: bytes[payloadStart..<max(payloadStart, capturedEnd)])
        return TCPSegment(
            source: source, destination: destination, sequence: bytes.bigEndian(UInt32.self, at: start + 4),
            acknowledgment: bytes.bigEndian(UInt32.self, at: start + 8),
            flags: Flags(rawValue: bytes[start + 13] & 0x3F), payload: payload, missingBytes: max(0, end - max(payloadStart, capturedEnd)))
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    func bigEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        T(bigEndian: self.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
