import NIOCore

extension ChannelHandlerContext {
    /// Flushes; when `pending` timed writes were made since the last such flush, `written` learns their count once
    /// they have all gone out (or failed), and `pending` starts again at zero.
    ///
    /// One promise per flush, on an empty write queued after them (writes complete in order; an empty one, TLS
    /// included, completes with the writes before it), rather than a promise per write: each promise cost about
    /// 1,300 instructions of run-time generic metadata lookups, and a read burst of pipelined requests ends in one
    /// flush.
    func flush(reporting pending: inout Int, _ written: @escaping (_ count: Int, _ succeeded: Bool) -> Void) {
        if pending > 0 {
            let count = pending
            pending = 0
            let promise = self.eventLoop.makePromise(of: Void.self)
            promise.futureResult.assumeIsolated().whenComplete { result in
                if case .success = result { written(count, true) } else { written(count, false) }
            }
            self.write(NIOAny(ByteBuffer()), promise: promise)
        }
        self.flush()
    }
}
