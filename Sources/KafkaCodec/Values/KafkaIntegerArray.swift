public import NIOCore

/// An array of fixed-width integers kept as its big-endian wire bytes.
///
/// Replica and ISR lists make up most of a large Metadata response. Decoding them into `[Int32]` allocated two
/// arrays per partition. Lists of up to 24 bytes (six broker ids: every replication factor in practice) are
/// stored inline, with no allocation and no reference counting; longer ones are a slice of the frame.
public struct KafkaIntegerArray<Element: FixedWidthInteger & Sendable>: RandomAccessCollection, Sendable {
    private enum Storage: Sendable {
        case inline(InlineBytes, byteCount: UInt8)
        case slice(ByteBuffer)
    }

    /// 24 bytes of wire data.
    private struct InlineBytes: Sendable {
        var words: (UInt64, UInt64, UInt64) = (0, 0, 0)
    }

    static var inlineCapacity: Int { MemoryLayout<InlineBytes>.size }

    private var storage: Storage

    /// An empty array, without allocating.
    public init() {
        self.storage = .inline(InlineBytes(), byteCount: 0)
    }

    /// Elements from their wire bytes, `count * MemoryLayout<Element>.size` of them.
    public init(bytes: ByteBuffer) {
        precondition(bytes.readableBytes % MemoryLayout<Element>.size == 0, "not a whole number of elements")
        if bytes.readableBytes <= Self.inlineCapacity {
            var inline = InlineBytes()
            withUnsafeMutableBytes(of: &inline.words) { target in
                bytes.withUnsafeReadableBytes { target.copyMemory(from: $0) }
            }
            self.storage = .inline(inline, byteCount: UInt8(bytes.readableBytes))
        } else {
            self.storage = .slice(bytes)
        }
    }

    public init(_ elements: some Sequence<Element>) {
        var bytes = ByteBuffer()
        for element in elements { bytes.writeInteger(element) }
        self.init(bytes: bytes)
    }

    /// Reads `count` elements from `reader` without allocating when they fit inline.
    init(reading count: Int, from reader: inout WireReader) throws(KafkaDecodingError) {
        let (length, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Element>.size)
        guard !overflow else { throw reader.error(.invalidLength, "array of \(count) elements") }
        guard length <= Self.inlineCapacity else {
            self.storage = .slice(try reader.readSlice(length: length))
            return
        }
        guard length <= reader.readableBytes else {
            throw reader.error(.truncated, "needed \(length) bytes, \(reader.readableBytes) left")
        }
        var inline = InlineBytes()
        withUnsafeMutableBytes(of: &inline.words) { target in
            reader.buffer.withUnsafeReadableBytes { source in
                target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[..<length]))
            }
        }
        reader.buffer.moveReaderIndex(forwardBy: length)
        self.storage = .inline(inline, byteCount: UInt8(length))
    }

    /// Calls `body` with the elements' wire bytes.
    func withWireBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        switch self.storage {
        case .inline(var inline, let byteCount):
            return withUnsafeBytes(of: &inline.words) { body(UnsafeRawBufferPointer(rebasing: $0[..<Int(byteCount)])) }
        case .slice(let buffer):
            return buffer.withUnsafeReadableBytes(body)
        }
    }

    public var startIndex: Int { 0 }

    public var endIndex: Int {
        switch self.storage {
        case .inline(_, let byteCount): Int(byteCount) / MemoryLayout<Element>.size
        case .slice(let buffer): buffer.readableBytes / MemoryLayout<Element>.size
        }
    }

    public subscript(position: Int) -> Element {
        precondition(position >= 0 && position < self.endIndex, "index out of range")
        return self.withWireBytes { bytes in
            Element(bigEndian: bytes.loadUnaligned(fromByteOffset: position * MemoryLayout<Element>.size, as: Element.self))
        }
    }
}

extension KafkaIntegerArray: Hashable {
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.withWireBytes { left in rhs.withWireBytes { right in left.elementsEqual(right) } }
    }

    public func hash(into hasher: inout Hasher) {
        self.withWireBytes { hasher.combine(bytes: $0) }
    }
}

extension KafkaIntegerArray: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: Element...) {
        self.init(elements)
    }
}

extension KafkaIntegerArray: CustomStringConvertible {
    public var description: String { Array(self).description }
}

extension WireReader {
    mutating func readNullableIntegerArray<Element>(
        compact: Bool,
        nullable: Bool,
        as: Element.Type = Element.self
    ) throws(KafkaDecodingError) -> KafkaIntegerArray<Element>? {
        guard let count = try self.readNullableLength(compact: compact, classicWidth: 4, nullable: nullable) else { return nil }
        return try KafkaIntegerArray(reading: count, from: &self)
    }

    mutating func readIntegerArray<Element>(
        compact: Bool,
        as: Element.Type = Element.self
    ) throws(KafkaDecodingError) -> KafkaIntegerArray<Element> {
        try self.readNullableIntegerArray(compact: compact, nullable: false) ?? KafkaIntegerArray()
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
        value?.withWireBytes { self.writeBytes($0) }
    }
}
