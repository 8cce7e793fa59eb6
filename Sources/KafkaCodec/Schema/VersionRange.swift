/// An inclusive range of protocol versions, as written in the schemas ("3+", "0-7", "none").
public struct VersionRange: Hashable, Sendable {
    public let lowest: Int16
    public let highest: Int16

    @inlinable
    public init(lowest: Int16, highest: Int16) {
        self.lowest = lowest
        self.highest = highest
    }

    /// `"N+"`: every version from `N` on.
    @inlinable
    public static func since(_ lowest: Int16) -> VersionRange { VersionRange(lowest: lowest, highest: .max) }

    /// `"A-B"`, or `"A"` when both ends are equal.
    @inlinable
    public static func range(_ lowest: Int16, _ highest: Int16) -> VersionRange {
        VersionRange(lowest: lowest, highest: highest)
    }

    /// `"none"`: no version at all. (Not `.none`, which would read as `Optional.none` where optional.)
    public static let empty = VersionRange(lowest: 1, highest: 0)

    @inlinable
    public var isEmpty: Bool { self.lowest > self.highest }

    @inlinable
    public func contains(_ version: Int16) -> Bool { version >= self.lowest && version <= self.highest }
}

extension VersionRange: CustomStringConvertible {
    public var description: String {
        if self.isEmpty { return "none" }
        if self.highest == .max { return "\(self.lowest)+" }
        return self.lowest == self.highest ? "\(self.lowest)" : "\(self.lowest)-\(self.highest)"
    }
}
