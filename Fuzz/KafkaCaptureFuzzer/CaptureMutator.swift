import KafkaTestSupport

/// Damages capture files the ways that crashed or could crash the analysis: packet times moved anywhere (before
/// 1970, past any clock, backwards), record lengths that lie, cut files, and bytes changed anywhere, including
/// inside Kafka frames behind intact TCP headers.
struct CaptureMutator {
    private var random: SeededRandom

    init(seed: UInt64) {
        self.random = SeededRandom(seed: seed)
    }

    mutating func mutate(_ capture: [UInt8]) -> [UInt8] {
        var bytes = capture
        let records = Self.classicRecords(bytes)
        for _ in 0..<Int.random(in: 1...4, using: &self.random) {
            switch Int.random(in: 0..<7, using: &self.random) {
            case 0, 1:
                // A packet time: seconds and microseconds, little-endian (the files libpcap and tcpdump write).
                guard let record = records.randomElement(using: &self.random) else { fallthrough }
                let field = Int.random(in: 0...1, using: &self.random)
                let value: UInt32 = [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 999_999, 1_000_000, UInt32.random(in: 0 ... .max, using: &self.random)]
                    .randomElement(using: &self.random)!
                Self.store(value, in: &bytes, at: record + 4 * field)
            case 2:
                guard let record = records.randomElement(using: &self.random) else { fallthrough }
                let value = UInt32.random(in: 0...70_000, using: &self.random)  // captured or original length
                Self.store(value, in: &bytes, at: record + 8 + 4 * Int.random(in: 0...1, using: &self.random))
            case 3:
                bytes.removeLast(Int.random(in: 0...min(bytes.count, 200), using: &self.random))
            default:
                guard !bytes.isEmpty else { continue }
                let index = Int.random(in: 0..<bytes.count, using: &self.random)
                bytes[index] = Bool.random(using: &self.random) ? UInt8.random(in: 0...255, using: &self.random) : bytes[index] ^ 0x80
            }
        }
        return bytes
    }

    /// Offsets of the packet records of a classic little-endian pcap file; none for other files.
    private static func classicRecords(_ bytes: [UInt8]) -> [Int] {
        guard bytes.count >= 24, bytes[0..<4].elementsEqual([0xD4, 0xC3, 0xB2, 0xA1]) else { return [] }
        var offsets: [Int] = []
        var position = 24
        while position + 16 <= bytes.count {
            offsets.append(position)
            let captured = Int(bytes[position + 8]) | Int(bytes[position + 9]) << 8 | Int(bytes[position + 10]) << 16 | Int(bytes[position + 11]) << 24
            position += 16 + captured
        }
        return offsets
    }

    private static func store(_ value: UInt32, in bytes: inout [UInt8], at offset: Int) {
        guard offset + 4 <= bytes.count else { return }
        for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }
}
