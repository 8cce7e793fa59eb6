/// A schema version string ("3+", "0-7", "5", "none") turned into the Swift expression for `VersionRange`.
struct VersionSpec: Equatable {
    var lowest: Int
    var highest: Int?  // nil: open-ended

    static let empty = VersionSpec(lowest: 1, highest: 0)

    init(lowest: Int, highest: Int?) {
        self.lowest = lowest
        self.highest = highest
    }

    init(_ text: String) throws {
        if text == "none" {
            self = .empty
        } else if text.hasSuffix("+"), let lowest = Int(text.dropLast()) {
            self.init(lowest: lowest, highest: nil)
        } else if let dash = text.firstIndex(of: "-"), let lowest = Int(text[..<dash]),
            let highest = Int(text[text.index(after: dash)...])
        {
            self.init(lowest: lowest, highest: highest)
        } else if let exact = Int(text) {
            self.init(lowest: exact, highest: exact)
        } else {
            throw GeneratorError("unreadable version range \"\(text)\"")
        }
    }

    var isEmpty: Bool { self.highest.map { $0 < self.lowest } ?? false }

    func contains(_ version: Int) -> Bool {
        version >= self.lowest && version <= (self.highest ?? .max)
    }

    /// The versions of `self` that also lie in `lowest...highest` (nil: open-ended).
    func clipped(lowest: Int, highest: Int?) -> VersionSpec {
        let low = max(self.lowest, lowest)
        let high = [self.highest, highest].compactMap { $0 }.min()
        let clipped = VersionSpec(lowest: low, highest: high)
        return clipped.isEmpty ? .empty : clipped
    }

    /// The text the schemas use for this range.
    var text: String {
        if self.isEmpty { return "none" }
        guard let highest = self.highest else { return "\(self.lowest)+" }
        return highest == self.lowest ? "\(highest)" : "\(self.lowest)-\(highest)"
    }

    var swiftExpression: String {
        if self.isEmpty { return ".empty" }
        guard let highest = self.highest else { return ".since(\(self.lowest))" }
        return ".range(\(self.lowest), \(highest))"
    }
}
