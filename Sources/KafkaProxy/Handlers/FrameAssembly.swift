import KafkaCodec
import NIOCore

/// What the proxy keeps of a large frame while its parts stream through (see `FrameStreamDecoder`).
enum FrameAssembly {
    /// Nothing: metrics are off and the frame goes on part by part.
    case none
    /// Every part, copied: the frame may name brokers, so it is sent only once whole, rewritten.
    case copy(ByteBuffer)
    /// The frame's structure without its record data, for the metrics; the parts go on as they arrive.
    case skeleton(FrameSkeleton)

    /// Starts with the first part, size prefix included; `remaining` more bytes are to come.
    static func starting(_ head: ByteBuffer, remaining: Int, rewrite: Bool, skeleton direction: FrameSkeleton.Direction?) -> FrameAssembly {
        if rewrite {
            var whole = ByteBuffer()
            whole.reserveCapacity(head.readableBytes + remaining)
            whole.writeImmutableBuffer(head)
            return .copy(whole)
        }
        return direction.map { .skeleton(FrameSkeleton($0, head: head)) } ?? .none
    }

    mutating func append(_ part: ByteBuffer) {
        switch self {
        case .none:
            break
        case .copy(var whole):
            self = .none  // let `whole` be uniquely referenced while it grows
            whole.writeImmutableBuffer(part)
            self = .copy(whole)
        case .skeleton(var skeleton):
            self = .none
            skeleton.append(part)
            self = .skeleton(skeleton)
        }
    }
}

/// A large request on its way upstream.
struct StreamedRequest {
    var header: RequestHeaderPrefix
    /// A copy of the frame's first bytes after the size prefix, for the client id: a slice would hold the whole
    /// first part until the last arrives.
    var head: ByteBuffer
    var expectsResponse: Bool
    var frameBytes: Int
    var assembly: FrameAssembly
}

/// A large response on its way to the client.
struct StreamedResponse {
    var request: InFlightRequest
    var closeWhenDone: Bool
    var frameBytes: Int
    var assembly: FrameAssembly
}
