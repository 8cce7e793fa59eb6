/// Why a frame could not be decoded, with where it happened.
///
/// The code is an extensible struct so that callers compare by `code` and new cases break nobody.
public struct KafkaDecodingError: Error, Hashable, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case truncated
            case invalidLength
            case invalidVarint
            case unexpectedNull
            case invalidNullMarker
            case trailingBytes
            case invalidFrameLength
            case invalidTaggedField
            case invalidRecordBatch
            case crcMismatch
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The input ended inside a field.
        public static let truncated = Code(.truncated)
        /// A length or count is negative or larger than what is left.
        public static let invalidLength = Code(.invalidLength)
        public static let invalidVarint = Code(.invalidVarint)
        /// A field that is not nullable at this version was null on the wire.
        public static let unexpectedNull = Code(.unexpectedNull)
        public static let invalidNullMarker = Code(.invalidNullMarker)
        /// Bytes were left after the message (or after a tagged field's value).
        public static let trailingBytes = Code(.trailingBytes)
        public static let invalidFrameLength = Code(.invalidFrameLength)
        public static let invalidTaggedField = Code(.invalidTaggedField)
        public static let invalidRecordBatch = Code(.invalidRecordBatch)
        public static let crcMismatch = Code(.crcMismatch)

        public var description: String { self.base.rawValue }
    }

    public var code: Code
    /// The API and version being decoded, when known.
    public var api: APIKey?
    public var version: Int16?
    /// Dotted field path from the message root (`topics.partitions.records`).
    public var field: String
    /// Byte offset from the start of the decoded input.
    public var offset: Int
    public var detail: String

    @usableFromInline
    @inline(never)
    package init(_ code: Code, field: String = "", offset: Int, _ detail: String = "") {
        self.code = code
        self.field = field
        self.offset = offset
        self.detail = detail
    }

    /// Prefixes the path with an enclosing field name as the error travels outwards.
    @usableFromInline
    @inline(never)
    func inside(_ name: String) -> KafkaDecodingError {
        var copy = self
        // Array positions attach without a dot: `topics[0].name`.
        let separator = copy.field.hasPrefix("[") ? "" : "."
        copy.field = copy.field.isEmpty ? name : "\(name)\(separator)\(copy.field)"
        return copy
    }
}

extension KafkaDecodingError: CustomStringConvertible {
    public var description: String {
        var parts = ["\(self.code)"]
        if let api = self.api { parts.append("api \(api.name)") }
        if let version = self.version { parts.append("version \(version)") }
        if !self.field.isEmpty { parts.append("field \(self.field)") }
        parts.append("offset \(self.offset)")
        return parts.joined(separator: ", ") + (self.detail.isEmpty ? "" : ": \(self.detail)")
    }
}
