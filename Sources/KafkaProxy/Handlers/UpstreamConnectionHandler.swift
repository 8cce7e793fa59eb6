import KafkaProxyMetrics
import NIOCore

/// The broker side of a proxied connection: hands responses to its client handler and writes the requests it
/// gets from it. Both handlers live on the same event loop, so they call each other directly.
final class UpstreamConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var client: ClientConnectionHandler?
    private let metrics: KafkascopeMetrics
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var pause = ReadPauseTimer(side: .broker)
    /// The broker's bytes cut into frames, and large frames into parts as they arrive.
    private var responses: FrameSplitter
    /// Timed requests written since the last flush (`write(_:endsTimedRequest:)`).
    private var timedRequests = 0

    init(client: ClientConnectionHandler, metrics: KafkascopeMetrics, maximumFrameLength: Int) {
        self.client = client
        self.metrics = metrics
        self.responses = FrameSplitter(.responses(maximumFrameLength: maximumFrameLength))
    }

    var isWritable: Bool { self.context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.client = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.responses.append(self.unwrapInboundIn(data))
        do {
            while let client = self.client, let part = try self.responses.next() { client.responsePartReceived(part) }
        } catch {
            self.errorCaught(context: context, error: error)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.client?.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.client?.upstreamWritabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func channelActive(context: ChannelHandlerContext) {
        self.metrics.connectionOpened(side: .broker)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let torn = self.responses.leftover() {
            // A broker that went away inside a response, as NIO's ByteToMessageHandler would report it.
            self.errorCaught(context: context, error: ByteToMessageDecoderError.leftoverDataWhenDone(torn))
        }
        self.metrics.connectionClosed(side: .broker)
        self.pause.resumed(metrics: self.metrics)
        self.client?.upstreamClosed()
        self.client = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.client?.upstreamFailed(error)
        context.close(promise: nil)
    }

    /// Reads from the broker only while the client can take what it sends.
    func read(context: ChannelHandlerContext) {
        if self.client?.canTakeResponses ?? true {
            context.read()
        } else {
            self.pendingRead = true
            if self.client?.isWritable == false { self.pause.paused(.clientNotWritable, metrics: self.metrics) }
        }
    }

    func resumeReading() {
        guard self.pendingRead, let context = self.context else { return }
        self.pendingRead = false
        self.pause.resumed(metrics: self.metrics)
        context.read()
    }

    /// `endsTimedRequest`: the bytes end a request whose broker time is measured from when they have gone out.
    func write(_ frame: ByteBuffer, endsTimedRequest: Bool = false) {
        guard let context = self.context else { return }
        context.write(self.wrapOutboundOut(frame), promise: nil)
        if endsTimedRequest { self.timedRequests += 1 }
    }

    func flush() {
        self.context?.flush(reporting: &self.timedRequests) { count, succeeded in
            if succeeded { self.client?.requestsSent(count, at: .now()) }
        }
    }

    func close() {
        self.context?.close(promise: nil)
    }

    /// The client has gone: what the broker still sends (a TLS close can take a while) is dropped, not reported
    /// as a response nobody asked for.
    func detach() {
        self.client = nil
    }
}

@available(*, unavailable)
extension UpstreamConnectionHandler: Sendable {}
