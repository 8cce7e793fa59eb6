import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// A batch a `BatchWorker` hands back empty, for reuse.
protocol ReusableBatch {
    var isEmpty: Bool { get }
    mutating func removeAll()
}

/// Frame events cut from the capture, with the arena holding copies of their small frames.
struct FrameBatch: ReusableBatch {
    var events: [FrameEvent] = []
    var arena = ByteBuffer()
    /// Connections that closed while this batch was filled, kept alive until their events are handled.
    var closed: [ConnectionExchanges] = []

    /// Empty only without closed connections too: those must outlive the batches in flight before this one.
    var isEmpty: Bool { self.events.isEmpty && self.closed.isEmpty }

    mutating func removeAll() {
        self.events.removeAll(keepingCapacity: true)
        self.arena.clear()
        self.closed.removeAll(keepingCapacity: true)
    }
}

/// A thread that handles batches while the thread that fills them goes on with the next one.
///
/// One batch waits in a single slot while the worker handles the one before it, so the filling thread is held up
/// only when the worker falls two batches behind; memory stays bounded by the batch size.
final class BatchWorker<Batch: ReusableBatch>: @unchecked Sendable {
    // @unchecked: `slot`, `spare` and `ended` are guarded by `slotState`; `handle` runs on the worker thread only.
    private let handle: (inout Batch) -> Void
    /// True while the slot holds a batch (or the end) for the worker.
    private let slotState = ConditionLock(value: false)
    private var slot: Batch?
    /// A handled batch, emptied, waiting to be reused.
    private var spare: Batch?
    private var ended = false
    /// True once the worker thread has handled the last batch.
    private let stopped = ConditionLock(value: false)
    private var finished = false

    init(handle: @escaping (inout Batch) -> Void) {
        self.handle = handle
        Thread.detachNewThread { self.run() }
    }

    /// Hands a batch over, waiting while the worker still has the previous one waiting. Returns a handled batch,
    /// emptied, for reuse, so that batches do not allocate (and fault in) fresh memory each time; and whether the
    /// worker was behind, its previous batch still waiting.
    func hand(_ batch: Batch) -> (spare: Batch?, workerWasBehind: Bool) {
        let behind = self.slotState.value  // takes the lock itself
        self.slotState.lock(whenValue: false)
        self.slot = batch
        let spare = self.spare
        self.spare = nil
        self.slotState.unlock(withValue: true)
        return (spare, behind)
    }

    /// Waits until every batch handed over has been handled.
    func finish() {
        guard !self.finished else { return }
        self.finished = true
        self.slotState.lock(whenValue: false)
        self.ended = true
        self.slotState.unlock(withValue: true)
        self.stopped.lock(whenValue: true)
        self.stopped.unlock()
    }

    private func run() {
        while true {
            self.slotState.lock(whenValue: true)
            var batch = self.slot
            let ended = self.ended
            self.slot = nil
            self.slotState.unlock(withValue: false)
            if var handled = batch {
                batch = nil  // `handled` is then the only reference, and emptying it keeps its storage
                self.handle(&handled)
                handled.removeAll()
                self.slotState.lock()
                self.spare = handled
                self.slotState.unlock()
            }
            if ended { break }
        }
        self.stopped.lock()
        self.stopped.unlock(withValue: true)
    }
}
