public import NIOCore

extension ByteBuffer {
    /// A whole or started frame's payload: the bytes after its 4-byte size prefix, which the frame must hold (the
    /// framers never hand on less).
    public var framePayload: ByteBuffer {
        self.getSlice(at: self.readerIndex + 4, length: self.readableBytes - 4)!
    }
}
