import NIOConcurrencyHelpers

/// Keeps a label's distinct values under a cap; later values share `__other__`.
///
/// Topic and client names come from traffic, so without a cap one misbehaving client could make the exposition
/// grow without bound. Callers cache what `admit` returns, so the lock is taken once per value per connection.
/// Control characters become U+FFFD: a client id is the client's to choose, and escape sequences or line breaks
/// have no business in dashboards, terminals or line-based readers of the exposition.
final class LabelLimiter: Sendable {
    static let other = "__other__"

    let cap: Int
    private let admitted = NIOLockedValueBox<Set<String>>([])
    private let onFold: @Sendable () -> Void

    init(cap: Int, onFold: @escaping @Sendable () -> Void) {
        self.cap = cap
        self.onFold = onFold
    }

    func admit(_ wireValue: String) -> String {
        let value = Self.printable(wireValue)
        let admitted = self.admitted.withLockedValue { values in
            if values.contains(value) { return true }
            guard values.count < self.cap else { return false }
            values.insert(value)
            return true
        }
        if admitted { return value }
        self.onFold()
        return Self.other
    }

    static func printable(_ value: String) -> String {
        guard value.unicodeScalars.contains(where: Self.isControl) else { return value }
        return String(String.UnicodeScalarView(value.unicodeScalars.map { Self.isControl($0) ? "\u{FFFD}" : $0 }))
    }

    /// C0, DEL, C1, and the Unicode line and paragraph separators.
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }
}
