import NIOCore

/// Field-level reads shared by the table walker and the generated typed messages.
extension WireReader {
    mutating func readBool() throws(KafkaDecodingError) -> Bool { try self.readInteger(as: UInt8.self) != 0 }

    mutating func readFloat64() throws(KafkaDecodingError) -> Double { Double(bitPattern: try self.readInteger()) }

    mutating func readUUID() throws(KafkaDecodingError) -> KafkaUUID {
        KafkaUUID(high: try self.readInteger(), low: try self.readInteger())
    }

    /// A length, or nil for null (allowed only where `nullable`).
    mutating func readNullableLength(compact: Bool, classicWidth: Int, nullable: Bool) throws(KafkaDecodingError) -> Int? {
        let length = try self.readLength(compact: compact, classicWidth: classicWidth)
        if length == -1 {
            guard nullable else { throw self.error(.unexpectedNull, "null in a non-nullable field") }
            return nil
        }
        guard length >= 0 else { throw self.error(.invalidLength, "negative length \(length)") }
        return length
    }

    mutating func readNullableString(compact: Bool, nullable: Bool) throws(KafkaDecodingError) -> String? {
        guard let length = try self.readNullableLength(compact: compact, classicWidth: 2, nullable: nullable) else { return nil }
        return String(buffer: try self.readSlice(length: length))
    }

    mutating func readString(compact: Bool) throws(KafkaDecodingError) -> String {
        try self.readNullableString(compact: compact, nullable: false) ?? ""
    }

    mutating func readNullableBytes(compact: Bool, nullable: Bool) throws(KafkaDecodingError) -> ByteBuffer? {
        guard let length = try self.readNullableLength(compact: compact, classicWidth: 4, nullable: nullable) else { return nil }
        return try self.readSlice(length: length)
    }

    mutating func readBytes(compact: Bool) throws(KafkaDecodingError) -> ByteBuffer {
        try self.readNullableBytes(compact: compact, nullable: false) ?? ByteBuffer()
    }

    mutating func readNullableArray<Element>(
        compact: Bool,
        nullable: Bool,
        _ element: (inout WireReader) throws(KafkaDecodingError) -> Element
    ) throws(KafkaDecodingError) -> [Element]? {
        guard let count = try self.readNullableLength(compact: compact, classicWidth: 4, nullable: nullable) else { return nil }
        // Every element of the typed messages takes at least one byte, which bounds hostile counts.
        guard count <= self.readableBytes else {
            throw self.error(.invalidLength, "array of \(count) elements in \(self.readableBytes) bytes")
        }
        var elements: [Element] = []
        elements.reserveCapacity(count)
        for position in 0..<count {
            do {
                elements.append(try element(&self))
            } catch {
                throw error.inside("[\(position)]")
            }
        }
        return elements
    }

    mutating func readArray<Element>(
        compact: Bool,
        _ element: (inout WireReader) throws(KafkaDecodingError) -> Element
    ) throws(KafkaDecodingError) -> [Element] {
        try self.readNullableArray(compact: compact, nullable: false, element) ?? []
    }

    mutating func readNullableStruct<Value>(
        nullable: Bool,
        _ value: (inout WireReader) throws(KafkaDecodingError) -> Value
    ) throws(KafkaDecodingError) -> Value? {
        if nullable, try self.readInteger(as: Int8.self) < 0 { return nil }
        return try value(&self)
    }

    /// The next tagged field's tag and a reader over its bytes; tags must ascend.
    mutating func readTaggedField(after previous: inout UInt32?) throws(KafkaDecodingError) -> (UInt32, WireReader) {
        let (tag, size) = try self.readTaggedFieldHeader(after: &previous)
        let dataOffset = self.buffer.readerIndex
        let data = try self.readSlice(length: size)
        return (tag, WireReader(data, origin: self.origin - (dataOffset - data.readerIndex)))
    }

    /// The next tagged field's tag and size, its bytes left unread; tags must ascend.
    mutating func readTaggedFieldHeader(after previous: inout UInt32?) throws(KafkaDecodingError) -> (tag: UInt32, size: Int) {
        let tag = try self.readUnsignedVarint()
        if let previous, tag <= previous {
            throw self.error(.invalidTaggedField, "tag \(tag) follows tag \(previous)")
        }
        previous = tag
        return (tag, Int(try self.readUnsignedVarint()))
    }

    mutating func readTaggedFieldCount() throws(KafkaDecodingError) -> UInt32 {
        let count = try self.readUnsignedVarint()
        guard Int(count) <= self.readableBytes else {
            throw self.error(.invalidLength, "\(count) tagged fields in \(self.readableBytes) bytes")
        }
        return count
    }

    func expectEnd(ofTag tag: UInt32) throws(KafkaDecodingError) {
        guard self.readableBytes == 0 else {
            throw self.error(.trailingBytes, "\(self.readableBytes) bytes left in tagged field \(tag)")
        }
    }
}

/// Field-level writes shared by the table walker and the generated typed messages.
extension WireWriter {
    mutating func writeKafkaBool(_ value: Bool) { self.writeInteger(UInt8(value ? 1 : 0)) }

    mutating func writeKafkaFloat64(_ value: Double) { self.writeInteger(value.bitPattern) }

    mutating func writeKafkaUUID(_ value: KafkaUUID) { self.writeMultipleIntegers(value.high, value.low) }

    /// A length, or the null marker when `length` is nil and the field may be null at this version.
    mutating func writeNullableLength(
        _ length: Int?,
        compact: Bool,
        classicWidth: Int,
        nullable: Bool,
        field: String
    ) throws(KafkaEncodingError) {
        guard let length else {
            guard nullable else { throw KafkaEncodingError(field: field, "null is not allowed at this version") }
            self.writeLength(-1, compact: compact, classicWidth: classicWidth)
            return
        }
        self.writeLength(length, compact: compact, classicWidth: classicWidth)
    }

    mutating func writeKafkaString(_ value: String?, compact: Bool, nullable: Bool, field: String) throws(KafkaEncodingError) {
        try self.writeNullableLength(value?.utf8.count, compact: compact, classicWidth: 2, nullable: nullable, field: field)
        if let value { self.writeString(value) }
    }

    mutating func writeKafkaBytes(_ value: ByteBuffer?, compact: Bool, nullable: Bool, field: String) throws(KafkaEncodingError) {
        try self.writeNullableLength(value?.readableBytes, compact: compact, classicWidth: 4, nullable: nullable, field: field)
        if let value { self.writeImmutableBuffer(value) }
    }

    mutating func writeKafkaArray<Element>(
        _ value: [Element]?,
        compact: Bool,
        nullable: Bool,
        field: String,
        _ element: (Element, inout WireWriter) throws(KafkaEncodingError) -> Void
    ) throws(KafkaEncodingError) {
        try self.writeNullableLength(value?.count, compact: compact, classicWidth: 4, nullable: nullable, field: field)
        guard let value else { return }
        // Borrow each element instead of copying it out of the array (a copy retains all its references).
        try value.withUnsafeBufferPointer { (elements) throws(KafkaEncodingError) in
            for index in elements.indices {
                try element(elements[index], &self)
            }
        }
    }

    mutating func writeKafkaStruct<Value>(
        _ value: Value?,
        nullable: Bool,
        field: String,
        _ write: (Value, inout WireWriter) throws(KafkaEncodingError) -> Void
    ) throws(KafkaEncodingError) {
        guard let value else {
            guard nullable else { throw KafkaEncodingError(field: field, "null is not allowed at this version") }
            self.writeInteger(Int8(-1))
            return
        }
        if nullable { self.writeInteger(Int8(1)) }
        try write(value, &self)
    }

    /// The tagged-field section: known fields already encoded, plus the unknown ones kept from decoding.
    mutating func writeTaggedFields(_ fields: [RawTaggedField]) {
        if fields.isEmpty {
            self.writeInteger(UInt8(0))
            return
        }
        self.writeUnsignedVarint(UInt32(fields.count))
        for field in fields.sorted(by: { $0.tag < $1.tag }) {
            self.writeUnsignedVarint(field.tag)
            self.writeUnsignedVarint(UInt32(field.data.readableBytes))
            self.writeImmutableBuffer(field.data)
        }
    }
}
