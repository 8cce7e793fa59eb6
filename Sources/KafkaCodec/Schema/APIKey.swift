/// A Kafka API key.
///
/// An extensible struct rather than an enum: a transparent proxy must carry keys that no schema names yet.
public struct APIKey: RawRepresentable, Hashable, Sendable {
    public let rawValue: Int16

    @inlinable
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// The API's name (`Metadata`), or `Unknown(N)` for a key the schemas do not describe.
    public var name: String { APIDescriptor.lookup(self)?.name ?? "Unknown(\(self.rawValue))" }
}

extension APIKey: CustomStringConvertible {
    public var description: String { self.name }
}

/// Ties an API key to its name and its request and response schemas. A class because it is looked up for every
/// frame, and each copy of a struct would retain every schema it holds.
public final class APIDescriptor: Sendable {
    public let key: APIKey
    public let name: String
    public let request: MessageSchema
    public let response: MessageSchema
    /// The versions the newest schema snapshot lists: what Kafka still accepts. Kafka 4.0 raised the lowest of
    /// many (KIP-896) and removed some APIs (`.empty`); the codec still decodes the older versions.
    public let currentVersions: VersionRange

    public init(key: APIKey, name: String, request: MessageSchema, response: MessageSchema, currentVersions: VersionRange) {
        self.key = key
        self.name = name
        self.request = request
        self.response = response
        self.currentVersions = currentVersions
    }

    /// Whether Kafka 4.0 and later refuse `version` of this API, which the codec knows: below the lowest version
    /// Kafka still lists, or any version of an API it removed. Versions above the newest are unknown, not removed.
    public func isRemovedInKafka4(_ version: Int16) -> Bool {
        self.validVersions.contains(version) && (self.currentVersions.isEmpty || version < self.currentVersions.lowest)
    }

    /// Dense lookup by raw key; keys are small and nearly contiguous.
    @usableFromInline static let table: [APIDescriptor?] = {
        let highest = Int(APIDescriptor.all.map(\.key.rawValue).max() ?? 0)
        var table = [APIDescriptor?](repeating: nil, count: highest + 1)
        for api in APIDescriptor.all {
            table[Int(api.key.rawValue)] = api
        }
        return table
    }()

    @inlinable
    public static func lookup(_ key: APIKey) -> APIDescriptor? {
        let index = Int(key.rawValue)
        return index >= 0 && index < APIDescriptor.table.count ? APIDescriptor.table[index] : nil
    }

    /// Versions both schemas support (they always agree in Kafka's tree).
    public var validVersions: VersionRange { self.request.validVersions }

    /// The request header version that goes with `version` of this API.
    public func requestHeaderVersion(_ version: Int16) -> Int16 {
        // ControlledShutdown v0 predates the client id and uses header v0 (see RequestHeader.json).
        if self.key == .controlledShutdown && version == 0 { return 0 }
        return self.request.isFlexible(version) ? 2 : 1
    }

    /// The response header version that goes with `version` of this API.
    public func responseHeaderVersion(_ version: Int16) -> Int16 {
        // KIP-511: ApiVersions answers with header v0 at every version, so that old clients can read it.
        if self.key == .apiVersions { return 0 }
        return self.response.isFlexible(version) ? 1 : 0
    }
}
