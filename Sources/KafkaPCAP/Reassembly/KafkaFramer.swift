import KafkaCodec
import NIOCore

/// Cuts one direction's reassembled bytes into Kafka frames, and finds its way back into the stream after a gap
/// or when the capture starts in the middle of a connection.
struct KafkaFramer {
    /// A frame and the number of the packet that completed it.
    struct Frame {
        /// The frame after its 4-byte size prefix.
        var payload: ByteBuffer
        var packet: Int
        var size: Int { self.payload.readableBytes + 4 }
    }

    let maximumFrameLength: Int
    private var buffer = ByteBuffer()
    /// Stream offset of `buffer`'s index 0.
    private var base = 0
    /// Where each delivered chunk ends, as a stream offset, with its packet.
    private var chunkEnds = CircularBuffer<(end: Int, packet: Int)>()
    /// Looking for a plausible frame start rather than trusting the next four bytes.
    private(set) var resynchronizing: Bool
    private(set) var resynchronizations = 0

    init(maximumFrameLength: Int, startsAtFrameBoundary: Bool) {
        self.maximumFrameLength = maximumFrameLength
        self.resynchronizing = !startsAtFrameBoundary
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer, packet: Int) {
        if self.buffer.readableBytes == 0 {
            self.base += self.buffer.readerIndex
            self.buffer.clear()
        } else if self.buffer.readerIndex > 1 << 20 {
            self.base += self.buffer.readerIndex
            self.buffer.discardReadBytes()
        }
        self.buffer.writeBytes(bytes)
        self.chunkEnds.append((self.base + self.buffer.writerIndex, packet))
    }

    /// The correlation id of a response frame that has started but is not complete.
    var startedFrameCorrelationID: Int32? {
        guard !self.resynchronizing, self.buffer.readableBytes >= 8 else { return nil }
        return self.buffer.getInteger(at: self.buffer.readerIndex + 4, as: Int32.self)
    }

    /// Bytes were lost: what is buffered cannot be completed.
    mutating func gap() {
        self.base += self.buffer.writerIndex
        self.buffer.clear()
        self.chunkEnds.removeAll(keepingCapacity: true)
        self.resynchronizing = true
    }

    /// Candidates longer than this that are not yet complete are not waited for while resynchronizing: a
    /// false frame start would otherwise swallow everything behind it.
    static let longestUnverifiedCandidate = 8 << 20

    /// The next complete frame; `plausible` judges a candidate frame start while resynchronizing, given its
    /// payload so far and its declared length: nil when more bytes are needed to judge, else whether to take it.
    mutating func next(plausible: (ByteBuffer, Int) -> Bool?) -> Frame? {
        if self.resynchronizing, !self.findFrameStart(plausible: plausible) { return nil }
        guard let length = self.buffer.getInteger(at: self.buffer.readerIndex, as: Int32.self) else { return nil }
        guard length >= 4, Int(length) <= self.maximumFrameLength else {
            // Not a frame boundary after all: look for the next plausible one.
            self.resynchronizing = true
            self.buffer.moveReaderIndex(forwardBy: 1)
            return self.next(plausible: plausible)
        }
        guard self.buffer.readableBytes >= 4 + Int(length) else { return nil }
        self.buffer.moveReaderIndex(forwardBy: 4)
        let payload = self.buffer.readSlice(length: Int(length))!
        return Frame(payload: payload, packet: self.packet(endingAt: self.base + self.buffer.readerIndex))
    }

    /// Moves to the first offset where a frame plausibly starts; false when more bytes are needed.
    private mutating func findFrameStart(plausible: (ByteBuffer, Int) -> Bool?) -> Bool {
        while self.buffer.readableBytes >= 12 {
            let start = self.buffer.readerIndex
            let length = Int(self.buffer.getInteger(at: start, as: Int32.self)!)
            if length >= 8, length <= self.maximumFrameLength {
                let available = min(length, self.buffer.readableBytes - 4)
                switch plausible(self.buffer.getSlice(at: start + 4, length: available)!, length) {
                case nil where available == length || length <= Self.longestUnverifiedCandidate:
                    return false
                case nil:
                    break
                case true?:
                    self.resynchronizing = false
                    self.resynchronizations += 1
                    return true
                case false?:
                    break
                }
            }
            self.buffer.moveReaderIndex(forwardBy: 1)
            _ = self.packet(endingAt: self.base + self.buffer.readerIndex)
        }
        return false
    }

    /// The packet holding the byte before `end`, dropping the chunks wholly before it.
    private mutating func packet(endingAt end: Int) -> Int {
        var packet = self.chunkEnds.first?.packet ?? 0
        while let first = self.chunkEnds.first, first.end <= end {
            packet = first.packet
            self.chunkEnds.removeFirst()
            if first.end == end { return packet }
        }
        return self.chunkEnds.first?.packet ?? packet
    }
}
