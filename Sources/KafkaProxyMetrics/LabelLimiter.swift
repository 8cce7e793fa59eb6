import NIOConcurrencyHelpers

/// Keeps a label's distinct values under a cap; later values share `__other__`.
///
/// Topic and client names come from traffic, so without a cap one misbehaving client could make the exposition
/// grow without bound. Callers cache what `admit` returns, so the lock is taken once per value per connection.
/// Values are made `WireText.printable` first.
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
        let value = WireText.printable(wireValue)
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
}
