public import NIOCore

/// A decoded field value of any schema type.
///
/// Values are untyped on purpose: one walker decodes, encodes and renders every message from its table,
/// so adding an API adds data, not code.
public enum KafkaValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case int8(Int8)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case float64(Double)
    case uuid(KafkaUUID)
    case string(String)
    /// A zero-copy slice of the frame.
    case bytes(ByteBuffer)
    /// Record batches or legacy message sets, as a zero-copy slice; `RecordBatchReader` reads their headers.
    case records(ByteBuffer)
    case array([KafkaValue])
    case structure(KafkaStruct)
}

/// A Kafka UUID: 16 bytes, compared bit for bit.
public struct KafkaUUID: Hashable, Sendable {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static let zero = KafkaUUID(high: 0, low: 0)
}

/// A tagged field that the schema does not name at this version, kept raw so a round trip loses nothing.
public struct RawTaggedField: Hashable, Sendable {
    public var tag: UInt32
    public var data: ByteBuffer

    public init(tag: UInt32, data: ByteBuffer) {
        self.tag = tag
        self.data = data
    }
}

/// The values of one schema structure, positionally aligned with `StructSchema.fields`.
public struct KafkaStruct: Hashable, Sendable {
    /// `nil` where the field does not exist at the decoded version, or is a tagged field that was absent.
    public var values: [KafkaValue?]
    public var unknownTaggedFields: [RawTaggedField]

    public init(values: [KafkaValue?], unknownTaggedFields: [RawTaggedField] = []) {
        self.values = values
        self.unknownTaggedFields = unknownTaggedFields
    }
}
