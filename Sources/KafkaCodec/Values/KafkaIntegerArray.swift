public import NIOCore

/// An array of fixed-width integers kept as its big-endian wire bytes.
///
/// Replica and ISR lists make up most of a large Metadata response. Decoding them into `[Int32]` allocated two
/// arrays per partition; a slice of the frame costs a reference count, and encoding it back is one copy.
public struct KafkaIntegerArray<Element: FixedWidthInteger & Sendable>: RandomAccessCollection, Hashable, Sendable {
    /// The elements as on the wire, `count * MemoryLayout<Element>.size` bytes.
    public private(set) var bytes: ByteBuffer

    /// An empty array, without allocating.
    public init() {
        self.bytes = emptyIntegerBytes
    }

    public init(bytes: ByteBuffer) {
        precondition(bytes.readableBytes % MemoryLayout<Element>.size == 0, "not a whole number of elements")
        self.bytes = bytes
    }

    public init(_ elements: some Sequence<Element>) {
        var iterator = elements.makeIterator()
        guard let first = iterator.next() else {
            self.bytes = emptyIntegerBytes  // typed structs start with empty arrays: do not allocate for them
            return
        }
        var bytes = ByteBuffer()
        bytes.writeInteger(first)
        while let element = iterator.next() { bytes.writeInteger(element) }
        self.bytes = bytes
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { self.bytes.readableBytes / MemoryLayout<Element>.size }

    public subscript(position: Int) -> Element {
        precondition(position >= 0 && position < self.endIndex, "index out of range")
        return self.bytes.getInteger(at: self.bytes.readerIndex + position * MemoryLayout<Element>.size)!
    }
}

/// Shared by every empty `KafkaIntegerArray`; `ByteBuffer()` allocates storage each time.
private let emptyIntegerBytes = ByteBuffer()

extension KafkaIntegerArray: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: Element...) {
        self.init(elements)
    }
}

extension KafkaIntegerArray: CustomStringConvertible {
    public var description: String { Array(self).description }
}

extension WireReader {
    mutating func readIntegerArray<Element>(
        count: Int,
        as: Element.Type = Element.self
    ) throws(KafkaDecodingError) -> KafkaIntegerArray<Element> {
        let (length, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Element>.size)
        guard !overflow else { throw self.error(.invalidLength, "array of \(count) elements") }
        return KafkaIntegerArray(bytes: try self.readSlice(length: length))
    }

    mutating func readNullableIntegerArray<Element>(
        compact: Bool,
        nullable: Bool,
        as: Element.Type = Element.self
    ) throws(KafkaDecodingError) -> KafkaIntegerArray<Element>? {
        guard let count = try self.readNullableLength(compact: compact, classicWidth: 4, nullable: nullable) else { return nil }
        return try self.readIntegerArray(count: count)
    }

    mutating func readIntegerArray<Element>(
        compact: Bool,
        as: Element.Type = Element.self
    ) throws(KafkaDecodingError) -> KafkaIntegerArray<Element> {
        try self.readNullableIntegerArray(compact: compact, nullable: false) ?? KafkaIntegerArray(bytes: emptyIntegerBytes)
    }
}

extension WireWriter {
    mutating func writeKafkaIntegerArray<Element>(
        _ value: KafkaIntegerArray<Element>?,
        compact: Bool,
        nullable: Bool,
        field: String
    ) throws(KafkaEncodingError) {
        try self.writeNullableLength(value?.count, compact: compact, classicWidth: 4, nullable: nullable, field: field)
        if let value { self.writeImmutableBuffer(value.bytes) }
    }
}
