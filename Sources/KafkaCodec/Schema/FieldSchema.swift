/// One field of a schema structure: its JSON name, type and the versions in which it exists.
public struct FieldSchema: Sendable {
    /// The schema name in lowerCamelCase (`partitionIndex`), as in the broker's own JSON request log.
    public let name: String
    public let type: FieldType
    public let versions: VersionRange
    public let nullableVersions: VersionRange
    /// Versions in which the field travels in the tagged-field section instead of in line.
    public let taggedVersions: VersionRange
    public let tag: UInt32?
    /// A per-field override of the message's flexible versions (the request header's `ClientId` is never compact).
    public let flexibleVersions: VersionRange?

    public init(
        _ name: String,
        _ type: FieldType,
        versions: VersionRange,
        nullable: VersionRange = .empty,
        tag: UInt32? = nil,
        taggedVersions: VersionRange = .empty,
        flexibleVersions: VersionRange? = nil
    ) {
        self.name = name
        self.type = type
        self.versions = versions
        self.nullableVersions = nullable
        self.tag = tag
        self.taggedVersions = taggedVersions
        self.flexibleVersions = flexibleVersions
    }

    /// Whether the field is written in line (not tagged) at `version`.
    @inlinable
    public func isInline(at version: Int16) -> Bool {
        self.versions.contains(version) && !self.taggedVersions.contains(version)
    }

    @inlinable
    public func isTagged(at version: Int16) -> Bool {
        self.tag != nil && self.taggedVersions.contains(version) && self.versions.contains(version)
    }
}
