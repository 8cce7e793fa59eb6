/// A value on the wire that cannot be true: a client, a broker or a capture said it, and a valid CRC proves
/// nothing (anyone can compute one). The fact it belongs to is then malformed and is not counted; the frame itself
/// still passes through untouched.
public enum InvalidValue: String, CaseIterable, Sendable {
    /// A batch's record count below zero, or above its offset span (`lastOffsetDelta + 1`).
    case recordCount = "record_count"
    /// A batch or legacy message length that is negative or shorter than its own header.
    case batchLength = "batch_length"
    /// A batch's `lastOffsetDelta` below zero.
    case lastOffsetDelta = "last_offset_delta"
    /// A batch's first or max timestamp below -1 (-1 means none).
    case batchTimestamp = "batch_timestamp"
    /// A magic byte other than 0, 1 or 2.
    case magic
    /// A negative `throttle_time_ms`.
    case throttleTime = "throttle_time_ms"

    var index: Int {
        switch self {
        case .recordCount: 0
        case .batchLength: 1
        case .lastOffsetDelta: 2
        case .batchTimestamp: 3
        case .magic: 4
        case .throttleTime: 5
        }
    }
}

/// How many of each `InvalidValue` a message held: a plain value, so facts that carry it cost no reference count.
public struct InvalidValues: Hashable, Sendable {
    private var counts = SIMD8<UInt32>()

    public init() {}

    public var isEmpty: Bool { self.counts == SIMD8() }

    /// Every value counted, over all kinds.
    public var total: Int { Int(self.counts.wrappedSum()) }

    public subscript(_ value: InvalidValue) -> Int { Int(self.counts[value.index]) }

    mutating func note(_ value: InvalidValue) {
        self.counts[value.index] &+= 1
    }

    public mutating func add(_ other: InvalidValues) {
        self.counts &+= other.counts
    }

    /// The kinds seen, with their counts, in declaration order.
    public var nonZero: [(InvalidValue, Int)] {
        InvalidValue.allCases.compactMap { self[$0] > 0 ? ($0, self[$0]) : nil }
    }
}
