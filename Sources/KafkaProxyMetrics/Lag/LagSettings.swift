/// Bounds and choices of consumer-lag tracking (`kafkascope proxy --lag-…`).
public struct LagSettings: Sendable {
    /// Consumer groups tracked at most; the group seen longest ago makes room for a new one.
    public var maximumGroups = 5_000
    /// Topic partitions whose log end offset is tracked at most, and partitions per group.
    public var maximumPartitions = 100_000
    /// (offset, timestamp) samples kept per partition for lag in seconds; beyond it every other one is dropped.
    public var samplesPerPartition = 64
    /// A group with no traffic for this long is forgotten (microseconds; default one hour).
    public var groupIdleMicroseconds: Int64 = 3_600 * 1_000_000
    /// A member not heard from for this long no longer counts (Kafka's default session timeout, 45 s).
    public var memberTimeoutMicroseconds: Int64 = 45 * 1_000_000
    /// Export per-partition series; false leaves the per-topic sums only, for large clusters.
    public var partitionSeries = true

    public init() {}
}
