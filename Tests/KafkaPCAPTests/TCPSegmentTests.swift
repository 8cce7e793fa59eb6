import Testing

@testable import KafkaPCAP

/// The same TCP segment behind every supported link-layer header.
@Suite struct TCPSegmentTests {
    private static let tcp: [UInt8] = {
        var header: [UInt8] = [0x9C, 0x40, 0x23, 0x84]  // 40000 -> 9092
        header += [0, 0, 0x10, 0]  // sequence 4096
        header += [0, 0, 0, 0, 0x50, 0x18, 0xFF, 0xFF, 0, 0, 0, 0]  // data offset 5, PSH+ACK
        return header + [1, 2, 3]
    }()

    private static func ipv4(_ payload: [UInt8]) -> [UInt8] {
        let length = UInt16(20 + payload.count)
        return [0x45, 0, UInt8(length >> 8), UInt8(length & 0xFF), 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1] + payload
    }

    private static func ipv6(_ payload: [UInt8]) -> [UInt8] {
        let length = UInt16(payload.count)
        var header: [UInt8] = [0x60, 0, 0, 0, UInt8(length >> 8), UInt8(length & 0xFF), 6, 64]
        header += [UInt8](repeating: 0, count: 15) + [2] + [UInt8](repeating: 0, count: 15) + [1]
        return header + payload
    }

    private static func parse(_ bytes: [UInt8], linkType: Int32, originalLength: Int? = nil) -> TCPSegment? {
        bytes.withUnsafeBytes { raw in
            let packet = CapturedPacket(timestamp: 0, bytes: raw, originalLength: originalLength ?? raw.count)
            return TCPSegment.parse(packet, linkType: linkType).map { segment in
                var copy = segment
                copy.payload = UnsafeRawBufferPointer(start: nil, count: 0)
                #expect(Array(segment.payload) == Array(Self.tcp.suffix(3).prefix(segment.payload.count)))
                return copy
            }
        }
    }

    @Test func everyLinkTypeFindsTheSameSegment() throws {
        let ethernet = [UInt8](repeating: 0, count: 12) + [0x08, 0x00] + Self.ipv4(Self.tcp)
        let vlan = [UInt8](repeating: 0, count: 12) + [0x81, 0x00, 0x00, 0x07, 0x08, 0x00] + Self.ipv4(Self.tcp)
        let sll = [UInt8](repeating: 0, count: 14) + [0x08, 0x00] + Self.ipv4(Self.tcp)
        let sll2 = [0x08, 0x00] + [UInt8](repeating: 0, count: 18) + Self.ipv4(Self.tcp)
        let null = [2, 0, 0, 0] + Self.ipv4(Self.tcp)
        let loop = [0, 0, 0, 2] + Self.ipv4(Self.tcp)
        let raw = Self.ipv4(Self.tcp)
        for (bytes, linkType) in [
            (ethernet, LinkType.ethernet), (vlan, LinkType.ethernet), (sll, LinkType.linuxSLL), (sll2, LinkType.linuxSLL2),
            (null, LinkType.null), (loop, LinkType.loop), (raw, LinkType.raw), (raw, 101),
        ] {
            let segment = try #require(Self.parse(bytes, linkType: linkType), "link type \(linkType)")
            #expect(segment.source.description == "10.0.0.2:40000")
            #expect(segment.destination.description == "10.0.0.1:9092")
            #expect(segment.sequence == 4096)
            #expect(segment.flags.contains(.ack) && !segment.flags.contains(.syn))
        }
    }

    @Test func ipv6AddressesPrintAsRFC5952() throws {
        let segment = try #require(Self.parse([UInt8](repeating: 0, count: 12) + [0x86, 0xDD] + Self.ipv6(Self.tcp), linkType: LinkType.ethernet))
        #expect(segment.source.description == "[::2]:40000")
        #expect(segment.destination.description == "[::1]:9092")
    }

    @Test func aSnaplenCutIsReportedAsMissingBytes() throws {
        let full = Self.ipv4(Self.tcp)
        let segment = try #require(Self.parse(Array(full.dropLast(2)), linkType: LinkType.raw, originalLength: full.count))
        #expect(segment.missingBytes == 2)
    }

    @Test func otherProtocolsAreSkipped() {
        var udp = Self.ipv4(Self.tcp)
        udp[9] = 17
        #expect(Self.parse(udp, linkType: LinkType.raw) == nil)
        #expect(Self.parse([0, 1, 2], linkType: LinkType.ethernet) == nil)
        #expect(Self.parse(Self.ipv4(Self.tcp), linkType: 147) == nil)  // a link type this reader does not know
    }
}
