import Foundation
import NIOCore

/// A batch a `BatchWorker` hands back empty, for reuse.
protocol ReusableBatch: SendableMetatype {
    var isEmpty: Bool { get }
    mutating func removeAll()
}

/// A thread that handles batches while the thread that fills them goes on with the next ones.
///
/// Up to `depth` batches wait for the worker, so that the filling thread is held up only when the worker falls
/// that far behind, not whenever one batch took it a little longer; memory stays bounded by the batch size.
final class BatchWorker<Batch: ReusableBatch>: @unchecked Sendable {
    // @unchecked: the stored state is guarded by `condition`; `handle` runs on the worker thread only.
    private let handle: (inout Batch) -> Void
    private let depth: Int
    private let condition = NSCondition()
    private var waiting = CircularBuffer<Batch>()
    /// Handled batches, emptied, waiting to be reused.
    private var spares: [Batch] = []
    private var ended = false
    private var stopped = false

    init(depth: Int = 2, handle: @escaping (inout Batch) -> Void) {
        self.depth = max(1, depth)
        self.handle = handle
        Thread.detachNewThread { self.run() }
    }

    /// Hands a batch over, waiting while `depth` batches still wait. Returns a handled batch, emptied, for reuse,
    /// so that batches do not allocate (and fault in) fresh memory each time; and whether the worker was behind,
    /// a batch before this one still waiting.
    func hand(_ batch: consuming Batch) -> (spare: Batch?, workerWasBehind: Bool) {
        self.condition.lock()
        defer { self.condition.unlock() }
        let behind = !self.waiting.isEmpty
        while self.waiting.count >= self.depth { self.condition.wait() }
        self.waiting.append(batch)
        self.condition.broadcast()
        return (self.spares.popLast(), behind)
    }

    /// Waits until every batch handed over has been handled.
    func finish() {
        self.condition.lock()
        defer { self.condition.unlock() }
        self.ended = true
        self.condition.broadcast()
        while !self.stopped { self.condition.wait() }
    }

    private func run() {
        while true {
            self.condition.lock()
            while self.waiting.isEmpty && !self.ended { self.condition.wait() }
            guard var batch = self.waiting.popFirst() else {
                self.stopped = true
                self.condition.broadcast()
                self.condition.unlock()
                return
            }
            self.condition.broadcast()
            self.condition.unlock()
            self.handle(&batch)
            batch.removeAll()
            self.condition.lock()
            self.spares.append(batch)
            self.condition.unlock()
        }
    }
}
