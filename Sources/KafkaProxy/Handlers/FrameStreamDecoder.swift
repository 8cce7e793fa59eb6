import KafkaCodec
import NIOCore

/// One piece of a Kafka byte stream.
enum FramePart: Equatable {
    /// A whole frame, size prefix included.
    case frame(ByteBuffer)
    /// The start of a large frame still arriving: the size prefix, enough of the header to route it, and whatever
    /// else is here.
    case head(ByteBuffer, remaining: Int)
    /// More of the frame `head` started; `last` when the frame is complete.
    case continuation(ByteBuffer, last: Bool)
}

/// Splits a stream into frames, but hands over large frames as they arrive instead of holding them (inside the
/// connection handlers, through `FrameSplitter`).
///
/// A Fetch response or a Produce request can be many megabytes; waiting for the whole of it before passing
/// anything on adds the time to receive it to every exchange, and copies it into one buffer. Frames that the proxy
/// may rewrite are still assembled by the handler.
struct FrameStreamDecoder {
    let maximumFrameLength: Int
    /// Frames at least this long are streamed when they are not already complete.
    let streamingThreshold: Int
    /// Whether the bytes so far (size prefix included) say enough about the frame to route it.
    let headIsEnough: @Sendable (ByteBuffer) -> Bool
    private var remainingInFrame = 0

    init(
        maximumFrameLength: Int,
        streamingThreshold: Int = 64 * 1024,
        headIsEnough: @escaping @Sendable (ByteBuffer) -> Bool
    ) {
        self.maximumFrameLength = maximumFrameLength
        self.streamingThreshold = streamingThreshold
        self.headIsEnough = headIsEnough
    }

    /// Responses are routed by their correlation id alone.
    static func responses(maximumFrameLength: Int) -> FrameStreamDecoder {
        FrameStreamDecoder(maximumFrameLength: maximumFrameLength) { $0.readableBytes >= 8 }
    }

    /// Requests need their header, and for Produce also `acks`, which says whether a response will come.
    static func requests(maximumFrameLength: Int) -> FrameStreamDecoder {
        FrameStreamDecoder(maximumFrameLength: maximumFrameLength) { head in
            let payload = head.framePayload
            guard let header = KafkaCodec.peekRequestHeader(payload) else { return false }
            return header.apiKey != .produce || KafkaCodec.produceAcks(payload) != nil
        }
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> FramePart? {
        if self.remainingInFrame > 0 {
            guard buffer.readableBytes > 0 else { return nil }
            let length = min(buffer.readableBytes, self.remainingInFrame)
            self.remainingInFrame -= length
            return .continuation(buffer.readSlice(length: length)!, last: self.remainingInFrame == 0)
        }
        let framing = KafkaFrameDecoder(maximumFrameLength: self.maximumFrameLength, includesSizePrefix: true)
        if let frame = try framing.nextFrame(&buffer) {
            return .frame(frame)
        }
        // Incomplete: stream it if it is large and what has arrived is enough to route it.
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: Int32.self),
            4 + Int(length) >= self.streamingThreshold, self.headIsEnough(buffer)
        else { return nil }
        let available = buffer.readableBytes
        self.remainingInFrame = 4 + Int(length) - available
        return .head(buffer.readSlice(length: available)!, remaining: self.remainingInFrame)
    }
}
