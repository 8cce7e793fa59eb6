/// What both wire readers (`WireReader` over a buffer, `ByteCursor` over a frame's memory) share for varints.
protocol VarintReading {
    mutating func readInteger<T: FixedWidthInteger>(as: T.Type) throws(KafkaDecodingError) -> T
    func error(_ code: KafkaDecodingError.Code, _ detail: String) -> KafkaDecodingError
}

extension VarintReading {
    /// An unsigned LEB128 varint of more than one byte (at most 5): the readers' fast paths take the one-byte ones.
    mutating func readLongUnsignedVarint() throws(KafkaDecodingError) -> UInt32 {
        var result: UInt32 = 0
        var shift: UInt32 = 0
        while true {
            let byte = try self.readInteger(as: UInt8.self)
            if shift == 28 && byte > 0x0F {
                throw self.error(.invalidVarint, "unsigned varint longer than 32 bits")
            }
            result |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }
}
