import KafkaCodec
import NIOCore

/// The large request now passing upstream in parts (see `FrameStreamDecoder`), beside the connection machine.
struct RequestStream {
    enum PartAction {
        /// Not part of a forwarded request (its start was refused): nothing to do.
        case drop
        /// A middle part: forward it.
        case forward(ByteBuffer)
        /// The last part: forward it and finish the request.
        case finish(StreamedRequest, lastPart: ByteBuffer)
    }

    private var current: StreamedRequest?

    mutating func started(_ request: StreamedRequest) {
        self.current = request
    }

    mutating func continued(_ bytes: ByteBuffer, last: Bool) -> PartAction {
        guard var request = self.current else { return .drop }
        self.current = nil  // so that the assembly grows in place
        request.assembly.append(bytes)
        if last { return .finish(request, lastPart: bytes) }
        self.current = request
        return .forward(bytes)
    }
}

/// The large response now passing to the client in parts, beside the connection machine.
struct ResponseStream {
    enum PartAction {
        case fail(ProxyError)
        /// A middle part to send on now.
        case send(ByteBuffer)
        /// A middle part kept for a rewrite: nothing to send yet.
        case keep
        /// The last part of a response kept whole: deliver it, rewritten where it names brokers.
        case deliverWhole(ByteBuffer, StreamedResponse)
        /// The last part of a response followed for its facts: record them, then send the part.
        case finishFollowed(FrameSkeleton, lastPart: ByteBuffer, StreamedResponse)
        /// The last part of a response passed as it came.
        case finish(lastPart: ByteBuffer, StreamedResponse)
    }

    private var current: StreamedResponse?

    /// A response starts in parts; returns its head when it goes on at once (it is not kept for a rewrite).
    mutating func started(
        _ head: ByteBuffer, remaining: Int, answering request: InFlightRequest, closeWhenDone: Bool, recording: Bool
    ) -> ByteBuffer? {
        let rewrite = ResponseRewriter.mayRewrite(request.apiKey, version: request.apiVersion)
        let assembly = FrameAssembly.starting(
            head, remaining: remaining, rewrite: rewrite, skeleton: recording ? .response(request.apiKey, request.apiVersion) : nil)
        self.current = StreamedResponse(
            request: request, closeWhenDone: closeWhenDone, frameBytes: head.readableBytes + remaining, assembly: assembly)
        return rewrite ? nil : head
    }

    mutating func continued(_ bytes: ByteBuffer, last: Bool) -> PartAction {
        guard var response = self.current else {
            return .fail(ProxyError(.malformedFrame, "response bytes outside any frame"))
        }
        self.current = nil
        response.assembly.append(bytes)
        guard last else {
            self.current = response
            if case .copy = response.assembly { return .keep }
            return .send(bytes)
        }
        switch response.assembly {
        case .copy(let whole): return .deliverWhole(whole, response)
        case .skeleton(let skeleton): return .finishFollowed(skeleton, lastPart: bytes, response)
        case .none: return .finish(lastPart: bytes, response)
        }
    }
}
