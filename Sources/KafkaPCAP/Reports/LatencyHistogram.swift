import Foundation

/// Latencies in logarithmic buckets 2% wide: percentiles within 2%, in memory that does not grow with the
/// number of exchanges.
struct LatencyHistogram {
    private static let growth = 1.02
    /// 1 µs to about 25 minutes.
    private static let bucketCount = 1100
    private var counts = [Int](repeating: 0, count: LatencyHistogram.bucketCount)
    private(set) var count = 0
    private(set) var maximum: Int64 = 0

    mutating func record(microseconds: Int64) {
        let value = max(1, microseconds)
        let index = min(Self.bucketCount - 1, Int(log(Double(value)) / log(Self.growth)))
        self.counts[index] += 1
        self.count += 1
        self.maximum = max(self.maximum, microseconds)
    }

    /// The upper edge of the bucket holding the `quantile` (0...1), in microseconds.
    func percentile(_ quantile: Double) -> Double {
        guard self.count > 0 else { return 0 }
        let rank = Int((quantile * Double(self.count)).rounded(.up))
        var seen = 0
        for (index, count) in self.counts.enumerated() where count > 0 {
            seen += count
            if seen >= rank { return min(pow(Self.growth, Double(index + 1)), Double(self.maximum)) }
        }
        return Double(self.maximum)
    }
}
