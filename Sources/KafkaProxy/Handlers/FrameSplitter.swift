import NIOCore

/// Cuts what one side sends into `FramePart`s inside the handler that takes them, as NIO's `ByteToMessageHandler`
/// with a `FrameStreamDecoder` would in a handler of its own.
///
/// That handler is generic code compiled in NIOCore: for every read it looks our decoder's types up at run time,
/// and it passes each part down the pipeline as an existential that the next handler casts back. Together that was
/// a tenth of the proxy's user-space instructions per small request (`Benchmarks/proxy_instructions.py`).
struct FrameSplitter {
    private var decoder: FrameStreamDecoder
    private var buffered: ByteBuffer?
    /// Set once the decoder has refused the stream (an oversized frame): what follows is dropped.
    private var failed = false

    init(_ decoder: FrameStreamDecoder) {
        self.decoder = decoder
    }

    mutating func append(_ bytes: ByteBuffer) {
        guard !self.failed else { return }
        if self.buffered == nil {
            self.buffered = bytes
        } else {
            self.buffered!.writeImmutableBuffer(bytes)
        }
    }

    /// The next part the bytes so far complete, if any. Taken one at a time, so that handling a part may append
    /// more (a re-entrant read) without overlapping access.
    mutating func next() throws -> FramePart? {
        guard !self.failed, self.buffered != nil else { return nil }
        do {
            let part = try self.decoder.decode(buffer: &self.buffered!)
            // Read to the end: let go of the receive buffer, which the channel reuses for its next read if no one
            // else holds it, instead of keeping it per connection.
            if self.buffered!.readableBytes == 0 { self.buffered = nil }
            return part
        } catch {
            self.failed = true
            self.buffered = nil
            throw error
        }
    }

    /// What is left when the stream ends: the start of a frame that never completed.
    mutating func leftover() -> ByteBuffer? {
        defer { self.buffered = nil }
        guard !self.failed, let rest = self.buffered, rest.readableBytes > 0 else { return nil }
        return rest
    }
}
