/// The table generated from one Kafka JSON message schema. A class: it is read for every frame, and each copy
/// of a struct would retain all it holds.
public final class MessageSchema: Sendable {
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
    /// One compiled plan per valid version, built with the table (tables are process-wide constants).
    let plans: [MessagePlan]

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
        self.plans = validVersions.isEmpty
            ? []
            : (validVersions.lowest...validVersions.highest).map {
                MessagePlan(body, version: $0, flexible: flexibleVersions.contains($0))
            }
    }

    @inlinable
    public func isFlexible(_ version: Int16) -> Bool { self.flexibleVersions.contains(version) }

    /// The compiled plan for `version`; versions outside `validVersions` get a fresh one.
    func plan(for version: Int16) -> MessagePlan {
        let index = Int(version) - Int(self.validVersions.lowest)
        if self.validVersions.contains(version), index < self.plans.count {
            return self.plans[index]
        }
        return MessagePlan(self.body, version: version, flexible: self.isFlexible(version))
    }
}
