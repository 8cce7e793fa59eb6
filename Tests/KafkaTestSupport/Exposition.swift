/// The samples of a Prometheus text exposition, for assertions: `name{labels}` to value.
public struct Exposition {
    public struct Sample {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    public let samples: [Sample]

    public init(_ bytes: [UInt8]) {
        self.samples = String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...])
            else { return nil }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else {
                return Sample(name: String(series), labels: [:], value: value)
            }
            var labels: [String: String] = [:]
            // Label values here never hold `",` so splitting on it is enough.
            for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)].split(separator: "\",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                labels[String(parts[0])] = String(parts[1].trimmingPrefix("\"").split(separator: "\"").first ?? "")
            }
            return Sample(name: String(series[..<brace]), labels: labels, value: value)
        }
    }

    /// The sum of `name` over the series whose labels include `matching`.
    public func sum(_ name: String, _ matching: [String: String] = [:]) -> Double {
        self.samples.filter { sample in
            sample.name == name && matching.allSatisfy { sample.labels[$0.key] == $0.value }
        }.reduce(0) { $0 + $1.value }
    }

    public func values(of label: String, in name: String) -> Set<String> {
        Set(self.samples.filter { $0.name == name }.compactMap { $0.labels[label] })
    }
}
