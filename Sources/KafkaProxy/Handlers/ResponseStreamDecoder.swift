import KafkaCodec
import NIOCore

/// One piece of the broker's response stream.
enum ResponsePart: Equatable {
    /// A whole frame, size prefix included.
    case frame(ByteBuffer)
    /// The start of a large frame still arriving: the size prefix, the correlation id and whatever else is here.
    case head(ByteBuffer, remaining: Int)
    /// More of the frame `head` started; `last` when the frame is complete.
    case continuation(ByteBuffer, last: Bool)
}

/// Splits the broker's stream into frames, but hands over large frames as they arrive instead of holding them.
///
/// A Fetch response can be many megabytes; waiting for the whole of it before passing anything on adds the
/// time to receive it to every fetch. Frames that the proxy may rewrite are still assembled by the handler.
struct ResponseStreamDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = ResponsePart

    let maximumFrameLength: Int
    /// Frames at least this long are streamed when they are not already complete.
    let streamingThreshold: Int
    private var remainingInFrame = 0

    init(maximumFrameLength: Int, streamingThreshold: Int = 64 * 1024) {
        self.maximumFrameLength = maximumFrameLength
        self.streamingThreshold = streamingThreshold
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> ResponsePart? {
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
        // Incomplete: stream it if it is large and its correlation id is here.
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: Int32.self),
            4 + Int(length) >= self.streamingThreshold, buffer.readableBytes >= 8
        else { return nil }
        let available = buffer.readableBytes
        self.remainingInFrame = 4 + Int(length) - available
        return .head(buffer.readSlice(length: available)!, remaining: self.remainingInFrame)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ResponsePart? {
        try self.decode(buffer: &buffer)
    }
}
