import KafkaProxyMetrics
import NIOCore

/// One side's back-pressure pause, from its start to its end or to the connection's close, so that each pause is
/// counted once and its length added once.
struct ReadPauseTimer {
    private let side: ConnectionSide
    private var since: NIODeadline?

    init(side: ConnectionSide) {
        self.side = side
    }

    mutating func paused(_ reason: ReadPause, metrics: KafkascopeMetrics) {
        guard self.since == nil else { return }
        self.since = .now()
        metrics.readsPaused(reason)
    }

    mutating func resumed(metrics: KafkascopeMetrics) {
        guard let since = self.since else { return }
        self.since = nil
        metrics.readsResumed(side: self.side, afterNanoseconds: (NIODeadline.now() - since).nanoseconds)
    }
}
