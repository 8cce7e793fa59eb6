import NIOCore

extension Duration {
    /// NIO measures with `NIODeadline` and `TimeAmount`; the metrics take `Duration`.
    init(_ amount: TimeAmount) {
        self = .nanoseconds(amount.nanoseconds)
    }
}

extension Duration {
    /// Whole seconds are what the configuration holds; NIO's timers take `TimeAmount`.
    var timeAmount: TimeAmount {
        .nanoseconds(Int64(self.components.seconds) * 1_000_000_000 + self.components.attoseconds / 1_000_000_000)
    }
}
