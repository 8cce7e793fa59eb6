import KafkaCodec
import NIOCore

/// Cuts one direction's reassembled bytes into Kafka frames, and finds its way back into the stream after a gap
/// or when the capture starts in the middle of a connection.
struct KafkaFramer {
    /// A frame and the number of the packet that completed it.
    struct Frame {
        /// The frame after its 4-byte size prefix; for a frame followed in parts, its first bytes only.
        var payload: ByteBuffer
        /// Set for a large frame followed in parts (see `followingThreshold`).
        var followed: FollowedFrame?
        var packet: Int
        /// Bytes on the wire, size prefix included.
        var size: Int
    }

    let maximumFrameLength: Int
    /// Frames longer than this are followed in parts by a `FrameSkeleton`, which keeps their structure and
    /// counts their record batches, instead of being buffered whole: record data is then never copied. Nil to
    /// buffer every frame.
    let followingThreshold: Int?
    /// Bytes a followed frame keeps from its start (its header), for what is read before it is complete; a frame
    /// is followed once they are in.
    let headLength: Int
    static let defaultHeadLength = 4096
    /// The large frame being followed, while its bytes come in.
    private var following: FollowedFrame?
    /// A followed frame complete and not yet handed out.
    private var followed: Frame?
    private var buffer = ByteBuffer()
    /// Stream offset of `buffer`'s index 0.
    private var base = 0
    /// Where each delivered chunk ends, as a stream offset, with its packet.
    private var chunkEnds = CircularBuffer<(end: Int, packet: Int)>()
    /// Looking for a plausible frame start rather than trusting the next four bytes.
    private(set) var resynchronizing: Bool
    private(set) var resynchronizations = 0

    init(maximumFrameLength: Int, startsAtFrameBoundary: Bool, followingThreshold: Int? = nil, headLength: Int = Self.defaultHeadLength) {
        self.maximumFrameLength = maximumFrameLength
        self.resynchronizing = !startsAtFrameBoundary
        self.followingThreshold = followingThreshold
        self.headLength = headLength
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer, packet: Int) {
        var bytes = bytes
        if let following = self.following {
            let step = min(following.remaining, bytes.count)
            following.skeleton.append(UnsafeRawBufferPointer(rebasing: bytes[..<step]))
            following.remaining -= step
            self.base += step
            if following.remaining == 0 {
                _ = self.packet(endingAt: self.base)
                self.followed = Frame(payload: following.head, followed: following, packet: packet, size: following.size)
                self.following = nil
            }
            bytes = UnsafeRawBufferPointer(rebasing: bytes[step...])
            guard !bytes.isEmpty else { return }
        }
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
        if let following = self.following { return following.head.getInteger(at: following.head.readerIndex, as: Int32.self) }
        guard !self.resynchronizing, self.buffer.readableBytes >= 8 else { return nil }
        return self.buffer.getInteger(at: self.buffer.readerIndex + 4, as: Int32.self)
    }

    /// Bytes were lost: what is buffered cannot be completed.
    mutating func gap() {
        self.following = nil
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
    /// `following` tells how to follow a large frame in parts, given its first bytes; nil to buffer it whole.
    mutating func next(
        plausible: (ByteBuffer, Int) -> Bool?, following: (ByteBuffer) -> FrameSkeleton.Direction? = { _ in nil }
    ) -> Frame? {
        if let followed = self.followed.take() { return followed }
        guard self.following.isNone else { return nil }
        if self.resynchronizing, !self.findFrameStart(plausible: plausible) { return nil }
        guard let length = self.buffer.getInteger(at: self.buffer.readerIndex, as: Int32.self) else { return nil }
        guard length >= 4, Int(length) <= self.maximumFrameLength else {
            // Not a frame boundary after all: look for the next plausible one.
            self.resynchronizing = true
            self.buffer.moveReaderIndex(forwardBy: 1)
            return self.next(plausible: plausible)
        }
        guard self.buffer.readableBytes >= 4 + Int(length) else {
            self.follow(length: Int(length), following)
            return nil
        }
        self.buffer.moveReaderIndex(forwardBy: 4)
        let payload = self.buffer.readSlice(length: Int(length))!
        return Frame(payload: payload, packet: self.packet(endingAt: self.base + self.buffer.readerIndex), size: Int(length) + 4)
    }

    /// Starts following the incomplete frame at the buffer's start in parts, if it is large and its header is in.
    private mutating func follow(length: Int, _ following: (ByteBuffer) -> FrameSkeleton.Direction?) {
        guard let threshold = self.followingThreshold, length > threshold, !self.resynchronizing,
            self.buffer.readableBytes >= 4 + min(length, self.headLength)
        else { return }
        // A copy of the header: a slice would keep the buffer's storage, which the next bytes then reallocate.
        let head = ByteBuffer(bytes: self.buffer.readableBytesView.dropFirst(4).prefix(self.headLength))
        guard let direction = following(head) else { return }
        let buffered = self.buffer.readableBytes
        self.following = FollowedFrame(
            FrameSkeleton(direction, head: self.buffer), head: head, remaining: 4 + length - buffered, size: 4 + length)
        self.base += self.buffer.writerIndex
        self.buffer.clear()
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

/// A large frame followed in parts by a skeleton, behind one reference: frames are handed around by value, and
/// most are not followed.
final class FollowedFrame {
    var skeleton: FrameSkeleton
    /// The frame's first bytes after its size prefix (`KafkaFramer.headLength`).
    let head: ByteBuffer
    /// Bytes still to come.
    var remaining: Int
    let size: Int

    init(_ skeleton: FrameSkeleton, head: ByteBuffer, remaining: Int, size: Int) {
        self.skeleton = skeleton
        self.head = head
        self.remaining = remaining
        self.size = size
    }
}
