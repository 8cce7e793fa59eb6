/// The table generated from one Kafka JSON message schema.
public struct MessageSchema: Sendable {
    public enum Kind: String, Sendable {
        case request
        case response
        case header
        case data
    }

    public let name: String
    public let apiKey: Int16?
    public let kind: Kind
    public let validVersions: VersionRange
    public let flexibleVersions: VersionRange
    public let body: StructSchema

    public init(
        name: String,
        apiKey: Int16?,
        kind: Kind,
        validVersions: VersionRange,
        flexibleVersions: VersionRange,
        body: StructSchema
    ) {
        self.name = name
        self.apiKey = apiKey
        self.kind = kind
        self.validVersions = validVersions
        self.flexibleVersions = flexibleVersions
        self.body = body
    }

    @inlinable
    public func isFlexible(_ version: Int16) -> Bool { self.flexibleVersions.contains(version) }
}
