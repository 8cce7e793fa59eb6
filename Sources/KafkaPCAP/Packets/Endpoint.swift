/// One end of a TCP connection: an IPv4 or IPv6 address and a port.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    /// IPv4 addresses use the first 4 bytes.
    public var high: UInt64
    public var low: UInt64
    public var isIPv6: Bool
    public var port: UInt16

    public var description: String {
        self.isIPv6 ? "[\(self.ipv6Text)]:\(self.port)" : "\(self.ipv4Text):\(self.port)"
    }

    private var ipv4Text: String {
        let value = UInt32(truncatingIfNeeded: self.high >> 32)
        return "\(value >> 24).\((value >> 16) & 0xFF).\((value >> 8) & 0xFF).\(value & 0xFF)"
    }

    /// RFC 5952 text: lower-case hex groups, the longest run of zero groups shortened to `::`.
    private var ipv6Text: String {
        let groups = (0..<8).map { index -> UInt16 in
            let word = index < 4 ? self.high : self.low
            return UInt16(truncatingIfNeeded: word >> UInt64(48 - 16 * (index % 4)))
        }
        var bestStart = -1
        var bestLength = 1
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            var end = index
            while end < 8 && groups[end] == 0 { end += 1 }
            if end - index > bestLength {
                bestStart = index
                bestLength = end - index
            }
            index = end
        }
        let hex = groups.map { String($0, radix: 16) }
        guard bestStart >= 0 else { return hex.joined(separator: ":") }
        let head = hex[..<bestStart].joined(separator: ":")
        let tail = hex[(bestStart + bestLength)...].joined(separator: ":")
        return head + "::" + tail
    }
}
