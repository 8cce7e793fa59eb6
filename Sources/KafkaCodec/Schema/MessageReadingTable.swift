/// What reading a message of one API version needs, in plain values: its compiled plans and header versions.
///
/// Every frame looks it up, on both threads of a capture analysis; taking a reference to a shared descriptor or
/// plan would change its reference count each time, and that count's cache line would travel between the cores.
/// Plans live as long as the process (the schema tables are constants), so they are held unmanaged.
struct VersionReading {
    let request: Unmanaged<MessagePlan>
    let response: Unmanaged<MessagePlan>
    let requestHeaderVersion: Int16
    let responseHeaderVersion: Int16
}

/// An API's versions and their `VersionReading`s.
struct APIReading {
    let versions: VersionRange
    /// Indexed by version minus `versions.lowest`.
    let byVersion: UnsafeBufferPointer<VersionReading>

    func callAsFunction(_ version: Int16) -> VersionReading? {
        guard self.versions.contains(version) else { return nil }
        return self.byVersion[Int(version) - Int(self.versions.lowest)]
    }
}

extension APIDescriptor {
    /// Dense by raw key, like `table`; never changed once built, never freed.
    nonisolated(unsafe) static let readings: UnsafeBufferPointer<APIReading?> = {
        let readings = UnsafeMutableBufferPointer<APIReading?>.allocate(capacity: max(1, APIDescriptor.table.count))
        _ = readings.initialize(from: APIDescriptor.table.map { $0.map(\.reading) })
        return UnsafeBufferPointer(readings)
    }()

    static func reading(_ key: APIKey) -> APIReading? {
        let index = Int(key.rawValue)
        return index >= 0 && index < Self.readings.count ? Self.readings[index] : nil
    }

    private var reading: APIReading {
        let versions = self.validVersions
        let count = versions.isEmpty ? 0 : Int(versions.highest) - Int(versions.lowest) + 1
        let byVersion = UnsafeMutableBufferPointer<VersionReading>.allocate(capacity: max(1, count))
        for (offset, version) in (versions.isEmpty ? [] : Array(versions.lowest...versions.highest)).enumerated() {
            (byVersion.baseAddress! + offset).initialize(to: VersionReading(
                request: Unmanaged.passUnretained(self.request.plan(for: version)),
                response: Unmanaged.passUnretained(self.response.plan(for: version)),
                requestHeaderVersion: self.requestHeaderVersion(version),
                responseHeaderVersion: self.responseHeaderVersion(version)))
        }
        return APIReading(versions: versions, byVersion: UnsafeBufferPointer(byVersion))
    }
}

extension KafkaCodec {
    /// Builds the schema tables and their compiled plans now, rather than when the first frame is read: a few
    /// milliseconds that a caller can spend on another core while it does other start-up work.
    public static func prepareTables() {
        _ = APIDescriptor.readings
    }
}
