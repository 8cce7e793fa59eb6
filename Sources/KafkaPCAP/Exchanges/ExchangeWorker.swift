import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Frame events cut from the capture, with the arena holding copies of their small frames.
struct FrameBatch {
    var events: [FrameEvent] = []
    var arena = ByteBuffer()
    /// Connections that closed while this batch was filled, kept alive until their events are handled.
    var closed: [ConnectionExchanges] = []
}

/// A thread that assembles exchanges from batches of frame events while the analyzer cuts the next batch.
///
/// One batch waits in a single slot while the worker handles the one before it, so the analyzer is held up only
/// when the worker falls two batches behind; memory stays bounded by the batch size.
final class ExchangeWorker: @unchecked Sendable {
    // @unchecked: `slot`, `spare` and `ended` are guarded by `slotState`; the assembler is used on the worker thread only,
    // from `init` until `finish` returns, and on the caller's thread only after that.
    private let assembler: ExchangeAssembler
    /// True while the slot holds a batch (or the end) for the worker.
    private let slotState = ConditionLock(value: false)
    private var slot: FrameBatch?
    /// A handled batch, emptied, waiting to be reused.
    private var spare: FrameBatch?
    private var ended = false
    /// True once the worker thread has handled the last batch.
    private let stopped = ConditionLock(value: false)
    private var finished = false

    init(assembler: ExchangeAssembler) {
        self.assembler = assembler
        Thread.detachNewThread { self.run() }
    }

    /// Hands a batch over, waiting while the worker still has the previous one waiting; returns a handled batch,
    /// emptied, for reuse, so that batches do not allocate (and fault in) fresh memory each time.
    func hand(_ batch: FrameBatch) -> FrameBatch? {
        self.slotState.lock(whenValue: false)
        self.slot = batch
        let spare = self.spare
        self.spare = nil
        self.slotState.unlock(withValue: true)
        return spare
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
                batch = nil
                // Borrowed from the buffer rather than copied out by an iterator: an event copy costs retains.
                handled.events.withUnsafeBufferPointer { events in
                    for index in events.indices { self.assembler.handle(events[index], arena: handled.arena) }
                }
                handled.events.removeAll(keepingCapacity: true)
                handled.arena.clear()
                handled.closed.removeAll(keepingCapacity: true)
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
