import NIOCore

/// One direction of a TCP connection, put back in order.
///
/// Retransmitted and duplicated bytes are delivered once; segments that arrive early wait in a bounded window.
/// When the window is full, or the connection ends, the missing bytes are given up as a gap and delivery goes on
/// after them, so one lost segment costs the frames around it, not the rest of the capture.
struct TCPStream {
    /// Segments held for reordering, at most.
    static let windowSegments = 512
    static let windowBytes = 8 << 20

    /// The sequence number of the next byte to deliver; nil until the first segment.
    private(set) var nextSequence: UInt32?
    /// Early segments, ordered by sequence number.
    private var early: [(sequence: UInt32, bytes: ByteBuffer, packet: Int)] = []
    private var earlyBytes = 0
    /// Times the window filled up while bytes in front of it were still missing, forcing a gap.
    private(set) var windowOverflows = 0

    /// A SYN starts the stream: its data begins one past the initial sequence number.
    mutating func synchronize(initialSequence: UInt32) {
        self.nextSequence = initialSequence &+ 1
        self.early.removeAll()
        self.earlyBytes = 0
    }

    /// Takes one segment's payload; `deliver` gets in-order bytes with the packet they came in, `gap` the number
    /// of bytes given up.
    mutating func receive(
        sequence: UInt32, payload: UnsafeRawBufferPointer, packet: Int,
        deliver: (UnsafeRawBufferPointer, Int) -> Void, gap: (Int) -> Void
    ) {
        guard !payload.isEmpty else { return }
        guard let next = self.nextSequence else {
            self.nextSequence = sequence &+ UInt32(payload.count)
            deliver(payload, packet)
            return
        }
        let offset = Int(Int32(bitPattern: sequence &- next))
        if offset <= 0 {
            let overlap = -offset
            guard overlap < payload.count else { return }  // a retransmission of bytes already delivered
            deliver(UnsafeRawBufferPointer(rebasing: payload[overlap...]), packet)
            self.nextSequence = next &+ UInt32(payload.count - overlap)
            self.deliverEarly(deliver: deliver)
            return
        }
        self.hold(sequence: sequence, bytes: ByteBuffer(bytes: payload), packet: packet)
        if self.early.count > Self.windowSegments || self.earlyBytes > Self.windowBytes {
            self.windowOverflows += 1
            self.skipToEarliest(gap: gap)
            self.deliverEarly(deliver: deliver)
        }
    }

    /// The peer acknowledged up to `acknowledgment`: bytes before it that the capture lacks will not come any more
    /// (the peer had them), so the early segments after them are delivered now rather than when the window fills.
    mutating func acknowledged(
        _ acknowledgment: UInt32, deliver: (UnsafeRawBufferPointer, Int) -> Void, gap: (Int) -> Void
    ) {
        while let first = self.early.first, let next = self.nextSequence,
            Int32(bitPattern: acknowledgment &- next) > 0, Int32(bitPattern: acknowledgment &- first.sequence) >= 0
        {
            self.skipToEarliest(gap: gap)
            self.deliverEarly(deliver: deliver)
        }
    }

    /// The connection is over: whatever waits is delivered after the gaps in front of it.
    mutating func finish(deliver: (UnsafeRawBufferPointer, Int) -> Void, gap: (Int) -> Void) {
        while !self.early.isEmpty {
            self.skipToEarliest(gap: gap)
            self.deliverEarly(deliver: deliver)
        }
    }

    private mutating func hold(sequence: UInt32, bytes: ByteBuffer, packet: Int) {
        let index = self.early.firstIndex { Int32(bitPattern: $0.sequence &- sequence) > 0 } ?? self.early.endIndex
        if index > 0, self.early[index - 1].sequence == sequence, self.early[index - 1].bytes.readableBytes >= bytes.readableBytes {
            return  // the same early segment again
        }
        self.early.insert((sequence, bytes, packet), at: index)
        self.earlyBytes += bytes.readableBytes
    }

    private mutating func skipToEarliest(gap: (Int) -> Void) {
        guard let first = self.early.first, let next = self.nextSequence else { return }
        let missing = Int(Int32(bitPattern: first.sequence &- next))
        if missing > 0 {
            gap(missing)
            self.nextSequence = first.sequence
        }
    }

    private mutating func deliverEarly(deliver: (UnsafeRawBufferPointer, Int) -> Void) {
        while let first = self.early.first, let next = self.nextSequence {
            let offset = Int(Int32(bitPattern: first.sequence &- next))
            guard offset <= 0 else { return }
            self.early.removeFirst()
            self.earlyBytes -= first.bytes.readableBytes
            let overlap = -offset
            guard overlap < first.bytes.readableBytes else { continue }
            first.bytes.withUnsafeReadableBytes { bytes in
                deliver(UnsafeRawBufferPointer(rebasing: bytes[overlap...]), first.packet)
            }
            self.nextSequence = next &+ UInt32(first.bytes.readableBytes - overlap)
        }
    }
}

extension TCPStream {
    /// Bytes the capture never held (cut by the snaplen): the stream goes on after them.
    mutating func skip(_ count: Int, gap: (Int) -> Void) {
        guard count > 0, let next = self.nextSequence else { return }
        gap(count)
        self.nextSequence = next &+ UInt32(truncatingIfNeeded: count)
    }
}
