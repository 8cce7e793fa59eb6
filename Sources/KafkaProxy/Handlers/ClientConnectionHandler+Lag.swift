import KafkaProxyMetrics
import NIOCore

/// When consumer lag takes what this connection's Produce answers said of the logs.
///
/// Applying takes the shared lag lock and a partition table lookup: as much as the rest of lag tracking costs a
/// small request. A producer pipelining at a moderate rate gets one answer per read, so applying after every read
/// paid that per request. The recorder folds the answers per partition instead, and they are applied
/// `producedLogsHold` after the first one: once per 100 ms per producing connection, whatever the rate. Lag's log
/// end offsets from Produce answers are that much behind the traffic at most; the observation times it reports are
/// the answers' own.
extension ClientConnectionHandler {
    static let producedLogsHold = TimeAmount.milliseconds(100)

    /// After a read of broker answers has been handled: arranges for what Produce answers said to be applied.
    func applyProducedLogsSoon() {
        guard self.producedLogsApply == nil, let recorder = self.recorder, recorder.holdsProducedLogs,
            let context = self.context
        else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.producedLogsApply = context.eventLoop.scheduleTask(in: Self.producedLogsHold) {
            bound.value.producedLogsApply = nil
            bound.value.recorder?.applyProducedLogs()
        }
    }

    /// The connection closed: the recorder applies what it holds itself (`ExchangeRecorder.closed`).
    func stopApplyingProducedLogs() {
        self.producedLogsApply?.cancel()
        self.producedLogsApply = nil
    }
}
