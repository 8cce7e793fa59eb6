import KafkaProxyMetrics
import NIOCore

/// Idleness: a connection with neither a read from its client nor a write to it for `idleTimeout` is closed.
///
/// NIO's `IdleStateHandler` does the same as a handler of its own in front of this one, but passes every read and
/// write through one more pipeline step and wraps every write in a promise to learn when it completed, which cost
/// more than a tenth of the proxy's user-space instructions per small request. The times of the reads and writes
/// this handler makes anyway serve as well.
extension ClientConnectionHandler {
    func watchIdleness(context: ChannelHandlerContext) {
        self.lastTraffic = context.eventLoop.now
        self.scheduleIdleCheck(in: self.proxy.configuration.idleTimeout.timeAmount, context: context)
    }

    func stopWatchingIdleness() {
        self.idleCheck?.cancel()
        self.idleCheck = nil
    }

    private func scheduleIdleCheck(in delay: TimeAmount, context: ChannelHandlerContext) {
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.idleCheck = context.eventLoop.scheduleTask(in: delay) { bound.value.idleCheckDue() }
    }

    /// Closes the connection if it has been quiet for the whole timeout; otherwise looks again when it would have
    /// been, counted from the last traffic.
    private func idleCheckDue() {
        guard let context = self.context, self.idleCheck != nil else { return }
        let timeout = self.proxy.configuration.idleTimeout.timeAmount
        let quiet = context.eventLoop.now - self.lastTraffic
        guard quiet >= timeout else {
            self.scheduleIdleCheck(in: timeout - quiet, context: context)
            return
        }
        self.idleCheck = nil
        self.fail(ProxyError(.idleTimeout, "no traffic for \(self.proxy.configuration.idleTimeout)"), side: .client)
    }
}
