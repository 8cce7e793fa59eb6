import NIOCore

/// Frame events cut from the capture, with what their events point at: copies of small frames in one arena, and
/// the frames read on the packet side.
struct FrameBatch: ReusableBatch {
    var events: [FrameEvent] = []
    var arena = ByteBuffer()
    var requests: [RequestReading] = []
    var responses: [ResponseReading] = []
    /// Connections that closed while this batch was filled, kept alive until their events are handled.
    var closed: [ConnectionExchanges] = []

    /// Empty only without closed connections too: those must outlive the batches in flight before this one.
    var isEmpty: Bool { self.events.isEmpty && self.closed.isEmpty }

    mutating func removeAll() {
        self.events.removeAll(keepingCapacity: true)
        self.arena.clear()
        self.requests.removeAll(keepingCapacity: true)
        self.responses.removeAll(keepingCapacity: true)
        self.closed.removeAll(keepingCapacity: true)
    }

    mutating func copy(_ bytes: ByteBuffer) -> ArenaRange {
        let offset = self.arena.writerIndex
        let length = bytes.readableBytes
        if self.arena.writableBytes >= length {
            // A plain copy into the room reserved for the batch: `writeImmutableBuffer` goes through NIO's general
            // write path, with its capacity checks and dynamic exclusivity checks, for every frame.
            self.arena.withUnsafeMutableWritableBytes { room in
                bytes.withUnsafeReadableBytes { room.copyMemory(from: $0) }
            }
            self.arena.moveWriterIndex(forwardBy: length)
        } else {
            self.arena.writeImmutableBuffer(bytes)
        }
        return ArenaRange(offset: Int32(offset), length: Int32(length))
    }

    mutating func add(_ reading: consuming RequestReading) -> Int32 {
        self.requests.append(reading)
        return Int32(self.requests.count - 1)
    }

    mutating func add(_ reading: consuming ResponseReading) -> Int32 {
        self.responses.append(reading)
        return Int32(self.responses.count - 1)
    }
}

extension ByteBuffer {
    /// Bytes of a batch's arena. On the arena rather than the batch: calling a method of a batch passed `inout`
    /// copies the whole batch first.
    func slice(_ range: ArenaRange) -> ByteBuffer {
        self.getSlice(at: Int(range.offset), length: Int(range.length))!
    }
}

extension Optional {
    /// Whether this is nil, asked without copying the value, which `== nil` can do.
    var isNone: Bool {
        if case .none = self { true } else { false }
    }
}
