/// Table-driven CRC-32 in the reflected form, sliced by 8 bytes.
///
/// Kafka uses CRC-32C (Castagnoli) for record batches (magic 2) and CRC-32 (IEEE) for legacy messages.
public struct CRC32: Sendable {
    /// Polynomial 0x82F63B78, as `RecordBatch` v2 uses.
    public static let castagnoli = CRC32(reflectedPolynomial: 0x82F6_3B78)
    /// Polynomial 0xEDB88320, as message sets of magic 0 and 1 use.
    public static let ieee = CRC32(reflectedPolynomial: 0xEDB8_8320)

    private let tables: [UInt32]  // 8 tables of 256 entries, flattened

    private init(reflectedPolynomial polynomial: UInt32) {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 {
                crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1
            }
            tables[byte] = crc
        }
        for byte in 0..<256 {
            for slice in 1..<8 {
                let previous = tables[(slice - 1) * 256 + byte]
                tables[slice * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        self.tables = tables
    }

    public func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        self.tables.withUnsafeBufferPointer { table in
            var crc: UInt32 = 0xFFFF_FFFF
            var index = 0
            let count = bytes.count
            while index + 8 <= count {
                let low = bytes.loadUnaligned(fromByteOffset: index, as: UInt32.self).littleEndian ^ crc
                let high = bytes.loadUnaligned(fromByteOffset: index + 4, as: UInt32.self).littleEndian
                crc = table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((low >> 16) & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
                    ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ table[1 * 256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
                index += 8
            }
            while index < count {
                crc = (crc >> 8) ^ table[Int((crc ^ UInt32(bytes[index])) & 0xFF)]
                index += 1
            }
            return crc ^ 0xFFFF_FFFF
        }
    }

    public func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        let array = Array(bytes)
        return array.withUnsafeBytes { self.checksum($0) }
    }
}
