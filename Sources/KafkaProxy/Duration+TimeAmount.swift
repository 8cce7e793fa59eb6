import NIOCore

extension Duration {
    /// NIO measures with `NIODeadline` and `TimeAmount`; the metrics take `Duration`.
    init(_ amount: TimeAmount) {
        self = .nanoseconds(amount.nanoseconds)
    }
}
