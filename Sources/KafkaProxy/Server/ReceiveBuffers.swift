import NIOCore

/// How each connection's receive buffer is sized, on both sides of the proxy.
///
/// SwiftNIO keeps a channel's last receive buffer for its next read, so that buffer is memory held per connection
/// even while it is idle. It starts at 512 bytes instead of NIO's 2,048; the adaptive allocator grows it within a
/// few full reads on bulk traffic, up to NIO's usual 64 KiB.
enum ReceiveBuffers {
    static let allocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65_536)
}
