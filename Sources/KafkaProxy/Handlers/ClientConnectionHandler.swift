import KafkaCodec
import KafkaProxyMetrics
import Logging
import NIOCore
import NIOExtras
import NIOPosix

/// The client side of a proxied connection. It carries out what its `ConnectionStateMachine` (and the stream and
/// SASL machines beside it) decide: it forwards requests as the very bytes it read, opens the upstream connection
/// (`+Upstream`), sends responses back, rewritten where they name brokers (`+Responses`), and passes SASL
/// exchanges (`+SASL`).
final class ClientConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let proxy: ProxyContext
    let route: UpstreamRoute
    var stateMachine: ConnectionStateMachine
    var requestStream = RequestStream()
    var responseStream = ResponseStream()
    /// Who the client authenticates as, read from the SASL exchange passing through.
    var sasl = SaslObserver()
    var logger: Logger
    /// Nil when metrics are off: then frames are neither copied, decoded nor timed.
    let recorder: ExchangeRecorder?
    var context: ChannelHandlerContext?
    var upstream: UpstreamConnectionHandler?
    /// The client's reads paused for back-pressure (the broker side full, or the in-flight cap reached).
    var readPause = ReadPauseTimer(side: .client)
    /// The client's bytes cut into frames, and large frames into parts as they arrive.
    private var requests: FrameSplitter
    /// When the client last sent or was sent anything, and the check that closes the connection once it has been
    /// quiet for `idleTimeout` (`+Idle`).
    var lastTraffic = NIODeadline.uptimeNanoseconds(0)
    var idleCheck: Scheduled<Void>?
    /// Applies what the Produce answers read said of the logs to consumer lag, a while after the first (`+Lag`).
    var producedLogsApply: Scheduled<Void>?
    /// Responses written to the client whose request duration ends when they have gone out, oldest first; the
    /// newest `unflushedDeliveries` of them were written since the last flush (`+Responses`).
    var deliveries = CircularBuffer<(api: APIKey, receivedAt: NIODeadline)>(initialCapacity: 1)
    var unflushedDeliveries = 0

    init(proxy: ProxyContext, route: UpstreamRoute) {
        self.proxy = proxy
        self.route = route
        self.stateMachine = ConnectionStateMachine(maximumInFlight: proxy.configuration.maxInFlightRequests)
        self.requests = FrameSplitter(.requests(maximumFrameLength: proxy.configuration.maxFrameBytes))
        self.logger = proxy.logger
        self.recorder = proxy.metrics.recordsExchanges ? proxy.metrics.recorder(broker: route.metricLabel, client: nil) : nil
        if let log = proxy.exchangeLog { self.recorder?.exchangeLog = { log.write($0) } }
    }

    /// Bytes of a streamed request's start kept for its client id (header fields, then at most a 255-byte id
    /// in practice; a longer one is cut and still counted).
    private static let keptHeadBytes = 512

    // MARK: Client events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.logger[metadataKey: "kafka.client.address"] = "\(context.remoteAddress.map { "\($0)" } ?? "?")"
        self.logger[metadataKey: "kafka.route"] = "\(self.route)"
        self.recorder?.logger = self.logger
        self.recorder?.clientAddress = context.remoteAddress?.endpointText
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.stopWatchingIdleness()
        self.stopApplyingProducedLogs()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        self.proxy.metrics.connectionOpened(side: .client)
        guard self.proxy.connections.add(context.channel) else {
            self.fail(ProxyError(.tooManyConnections, "already \(self.proxy.connections.maximum) connections"), side: .client)
            return
        }
        self.logger.debug("client connected")
        self.watchIdleness(context: context)
        self.connectUpstream(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.lastTraffic = context.eventLoop.now
        self.requests.append(self.unwrapInboundIn(data))
        do {
            while self.context != nil, let part = try self.requests.next() { self.requestPartReceived(part) }
        } catch {
            self.errorCaught(context: context, error: error)
        }
    }

    private func requestPartReceived(_ part: FramePart) {
        if self.sasl.expectsLegacyTokens, self.passLegacyToken(part) { return }
        switch part {
        case .frame(let frame):
            guard let (header, expectsResponse) = self.requestStarted(frame, whole: true) else { return }
            let error = self.recorder?.requestRead(
                frame.framePayload, header: header, frameBytes: frame.readableBytes, expectsResponse: expectsResponse)
            self.requestFinished(header, expectsResponse: expectsResponse, lastPart: frame, undecodable: error)
        case .head(let head, let remaining):
            guard let (header, expectsResponse) = self.requestStarted(head, whole: false) else { return }
            self.requestStream.started(StreamedRequest(
                header: header, head: ByteBuffer(bytes: head.readableBytesView.dropFirst(4).prefix(Self.keptHeadBytes)),
                expectsResponse: expectsResponse, frameBytes: head.readableBytes + remaining,
                assembly: FrameAssembly.starting(head, remaining: remaining, rewrite: false, skeleton: self.recorder == nil ? nil : .request)))
            self.upstream?.write(head)
        case .continuation(let bytes, let last):
            switch self.requestStream.continued(bytes, last: last) {
            case .drop:
                break
            case .forward(let bytes):
                self.upstream?.write(bytes)
            case .finish(let streamed, let lastPart):
                var error: KafkaDecodingError?
                if case .skeleton(let skeleton) = streamed.assembly, let recorder = self.recorder {
                    let now = NIODeadline.now()
                    self.stateMachine.updateRequest(correlationID: streamed.header.correlationID) { $0.receivedAt = now }
                    error = recorder.requestRead(
                        skeleton, head: streamed.head, header: streamed.header, frameBytes: streamed.frameBytes,
                        expectsResponse: streamed.expectsResponse)
                }
                self.requestFinished(streamed.header, expectsResponse: streamed.expectsResponse, lastPart: lastPart, undecodable: error)
            }
        }
    }

    /// Records a request from its first bytes (`FrameStreamDecoder.requests` makes sure they hold the header, and
    /// `acks` for Produce); nil when it is not to be forwarded.
    private func requestStarted(_ start: ByteBuffer, whole: Bool) -> (RequestHeaderPrefix, expectsResponse: Bool)? {
        let payload = start.framePayload
        guard let header = KafkaCodec.peekRequestHeader(payload) else {
            self.fail(ProxyError(.malformedFrame, "a request of \(payload.readableBytes) bytes has no header"), side: .client)
            return nil
        }
        let request = InFlightRequest(
            apiKey: header.apiKey, apiVersion: header.apiVersion, correlationID: header.correlationID, receivedAt: .now())
        let expectsResponse = KafkaCodec.expectsResponse(payload, header: header)
        switch self.stateMachine.requestReceived(request, expectsResponse: expectsResponse) {
        case .forward:
            self.logger.trace("request", metadata: ["kafka.api": "\(header.apiKey.name)", "kafka.correlation_id": "\(header.correlationID)"])
            self.observeSasl(request: payload, header: header, whole: whole)
            return (header, expectsResponse)
        case .ignore:
            return nil
        }
    }

    /// The request is whole: sends its last part upstream, noting when that part has gone.
    private func requestFinished(
        _ header: RequestHeaderPrefix, expectsResponse: Bool, lastPart: ByteBuffer, undecodable: KafkaDecodingError?
    ) {
        if let undecodable {
            self.logger.debug("request not decoded; forwarded as is", metadata: ["error": "\(undecodable)"])
        }
        self.upstream?.write(lastPart, endsTimedRequest: expectsResponse && self.recorder != nil)
    }

    /// The oldest `count` timed requests not yet sent have gone upstream whole.
    func requestsSent(_ count: Int, at time: NIODeadline) {
        self.stateMachine.requestsSent(count, at: time)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.upstream?.flush()
        context.fireChannelReadComplete()
    }

    /// Reads from the client only while upstream can take more and the in-flight cap is not reached.
    func read(context: ChannelHandlerContext) {
        switch self.stateMachine.readRequested(upstreamWritable: self.upstream?.isWritable ?? false) {
        case .read: context.read()
        case .wait: break
        case .pause(let reason): self.readPause.paused(reason, metrics: self.proxy.metrics)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { self.upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ProxyDrainEvent:
            self.close(self.stateMachine.drain())
        case let identity as ClientCertificateIdentified:
            self.named(principal: identity.subject)
            self.logger.debug("client certificate verified")
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A client that resets its connection with nothing in flight has simply left (librdkafka does, when a
        // response it no longer wants is still unread): a close, not an error.
        if let error = error as? IOError, error.errnoCode == ECONNRESET, self.stateMachine.inFlightCount == 0 {
            self.logger.debug("client reset the connection with nothing in flight")
            _ = self.stateMachine.closed()
            self.closeBoth()
            return
        }
        self.fail(ProxyError(ProxyError.code(for: error), "client side: \(error)"), side: .client)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let torn = self.requests.leftover() {
            self.fail(ProxyError(.malformedFrame, "the client closed inside a frame, \(torn.readableBytes) bytes into it"), side: .client)
        }
        self.authenticationEnded(self.sasl.closed())
        let unanswered = self.stateMachine.closed()
        if !unanswered.isEmpty {
            self.logger.debug("client closed with requests in flight", metadata: ["kafka.in_flight": "\(unanswered.count)"])
            self.countUnanswered(unanswered, reason: "client_closed")
        }
        self.stopApplyingProducedLogs()
        self.recorder?.closed()
        self.stopWatchingIdleness()
        self.readPause.resumed(metrics: self.proxy.metrics)
        self.proxy.metrics.connectionClosed(side: .client)
        self.proxy.connections.remove(context.channel)
        self.upstream?.detach()
        self.upstream?.close()
        self.upstream = nil
        context.fireChannelInactive()
    }

    // MARK: Carrying out

    /// Reads from the client again if a read waited and the machine now allows it.
    func resumeClientReadIfPossible() {
        guard let context = self.context,
            self.stateMachine.readMayResume(upstreamWritable: self.upstream?.isWritable ?? false) == .read
        else { return }
        self.readPause.resumed(metrics: self.proxy.metrics)
        context.read()
    }

    func fail(_ error: ProxyError, side: ConnectionSide) {
        self.proxy.metrics.connectionError(side: side, reason: error.code.description)
        self.logger.notice("closing connection", metadata: ["reason": "\(error.code)", "detail": "\(error.detail)"])
        self.countUnanswered(self.stateMachine.closed(), reason: error.code.description)
        self.closeBoth()
    }

    /// Requests that will never be answered: a user looking for a hung broker needs to see them.
    private func countUnanswered(_ requests: [InFlightRequest], reason: String) {
        for request in requests { self.proxy.metrics.requestUnanswered(api: request.apiKey, reason: reason) }
    }

    /// Carries out how a drain or a last response ends the connection.
    func close(_ action: ConnectionStateMachine.DrainAction) {
        switch action {
        case .closeNow: self.closeAfterPendingWrites()
        case .waitForResponses, .closeWithHeldResponses: break  // the last response, or the release, closes
        }
    }

    /// Closes once everything written so far has reached the socket: the answers a draining client waits for.
    func closeAfterPendingWrites() {
        guard let context = self.context else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.flush()
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer())).whenComplete { _ in bound.value.closeBoth() }
    }

    func closeBoth() {
        self.upstream?.close()
        self.context?.close(promise: nil)
    }
}

@available(*, unavailable)
extension ClientConnectionHandler: Sendable {}
