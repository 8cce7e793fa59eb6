import KafkaCodec
import KafkaProxyMetrics
import Logging
import NIOCore
import NIOExtras
import NIOPosix

/// The client side of a proxied connection. It owns the connection's state machine, opens the upstream
/// connection, forwards requests as the very bytes it read, and sends back responses, rewritten where they
/// name brokers.
final class ClientConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = FramePart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let proxy: ProxyContext
    private let route: UpstreamRoute
    private var stateMachine: ConnectionStateMachine
    private var logger: Logger
    /// Nil when metrics are off: then frames are neither copied, decoded nor timed.
    private let recorder: ExchangeRecorder?
    private var context: ChannelHandlerContext?
    private var upstream: UpstreamConnectionHandler?
    private var pendingRead = false
    /// Responses held back until the broker listeners they name are open; see `BrokerDirectory.record`. A part
    /// that ends a response carries its request, to time the exchange once it is written.
    private var heldResponses = CircularBuffer<(ByteBuffer, completing: InFlightRequest?)>()
    private var gateSequence = 0
    private var gateOpen = true
    /// A large response that arrives in parts (see `FrameStreamDecoder`).
    private var streamed: StreamedResponse?
    /// The large request now arriving in parts, if it goes upstream.
    private var streamedRequest: StreamedRequest?
    /// Who the client authenticates as, read from the SASL exchange passing through.
    private var sasl = SaslObserver()

    init(proxy: ProxyContext, route: UpstreamRoute) {
        self.proxy = proxy
        self.route = route
        self.stateMachine = ConnectionStateMachine(maximumInFlight: proxy.configuration.maxInFlightRequests)
        self.logger = proxy.logger
        self.recorder = proxy.metrics.recordsExchanges ? proxy.metrics.recorder(broker: route.metricLabel, client: nil) : nil
    }

    /// Bytes of a streamed request's start kept for its client id (header fields, then at most a 255-byte id
    /// in practice; a longer one is cut and still counted).
    private static let keptHeadBytes = 512

    /// Whether the upstream side may read more responses.
    var canTakeResponses: Bool { (self.context?.channel.isWritable ?? false) && self.gateOpen }

    // MARK: Client events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.logger[metadataKey: "kafka.client.address"] = "\(context.remoteAddress.map { "\($0)" } ?? "?")"
        self.logger[metadataKey: "kafka.route"] = "\(self.route)"
        self.recorder?.logger = self.logger
        self.recorder?.clientAddress = context.remoteAddress.flatMap { address in
            address.ipAddress.map { address.protocol == .inet6 ? "[\($0)]:\(address.port ?? 0)" : "\($0):\(address.port ?? 0)" }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        self.proxy.metrics.connectionOpened(side: "client")
        guard self.proxy.connections.add(context.channel) else {
            self.fail(ProxyError(.tooManyConnections, "already \(self.proxy.connections.maximum) connections"), side: "client")
            return
        }
        self.logger.debug("client connected")
        self.connectUpstream(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        if self.sasl.expectsLegacyTokens, self.forwardLegacyToken(part) { return }
        switch part {
        case .frame(let frame):
            guard let (header, expectsResponse) = self.requestStarted(frame, whole: true) else { return }
            let error = self.recorder?.requestRead(
                frame.getSlice(at: frame.readerIndex + 4, length: frame.readableBytes - 4)!, header: header,
                frameBytes: frame.readableBytes, expectsResponse: expectsResponse)
            self.requestFinished(header, expectsResponse: expectsResponse, lastPart: frame, undecodable: error)
        case .head(let head, let remaining):
            guard let (header, expectsResponse) = self.requestStarted(head, whole: false) else { return }
            let assembly = FrameAssembly.starting(
                head, remaining: remaining, rewrite: false, skeleton: self.recorder == nil ? nil : .request)
            self.streamedRequest = StreamedRequest(
                header: header, head: ByteBuffer(bytes: head.readableBytesView.dropFirst(4).prefix(Self.keptHeadBytes)),
                expectsResponse: expectsResponse, frameBytes: head.readableBytes + remaining, assembly: assembly)
            self.upstream?.write(head)
        case .continuation(let bytes, let last):
            guard var streamed = self.streamedRequest else { return }
            self.streamedRequest = nil
            streamed.assembly.append(bytes)
            if last {
                var error: KafkaDecodingError?
                if case .skeleton(let skeleton) = streamed.assembly, let recorder = self.recorder {
                    let now = NIODeadline.now()
                    self.stateMachine.updateRequest(correlationID: streamed.header.correlationID) { $0.receivedAt = now }
                    error = recorder.requestRead(
                        skeleton, head: streamed.head, header: streamed.header, frameBytes: streamed.frameBytes,
                        expectsResponse: streamed.expectsResponse)
                }
                self.requestFinished(streamed.header, expectsResponse: streamed.expectsResponse, lastPart: bytes, undecodable: error)
            } else {
                self.upstream?.write(bytes)
                self.streamedRequest = streamed
            }
        }
    }

    /// Records a request from its first bytes (`FrameStreamDecoder.requests` makes sure they hold the header, and
    /// `acks` for Produce); nil when it is not to be forwarded.
    private func requestStarted(_ start: ByteBuffer, whole: Bool) -> (RequestHeaderPrefix, expectsResponse: Bool)? {
        let payload = start.getSlice(at: start.readerIndex + 4, length: start.readableBytes - 4)!
        guard let header = KafkaCodec.peekRequestHeader(payload) else {
            self.fail(ProxyError(.malformedFrame, "a request of \(payload.readableBytes) bytes has no header"), side: "client")
            return nil
        }
        let request = InFlightRequest(
            apiKey: header.apiKey, apiVersion: header.apiVersion, correlationID: header.correlationID, receivedAt: .now())
        let expectsResponse = KafkaCodec.expectsResponse(payload, header: header)
        switch self.stateMachine.requestReceived(request, expectsResponse: expectsResponse) {
        case .forward:
            self.logger.trace("request", metadata: ["kafka.api": "\(header.apiKey.name)", "kafka.correlation_id": "\(header.correlationID)"])
            if SaslFrames.isSasl(header.apiKey) {
                if whole { SaslFrames.observeRequest(payload, key: header.apiKey, version: header.apiVersion, into: &self.sasl) }
            } else {
                self.authenticationEnded(self.sasl.otherRequestSent())
            }
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
        let correlationID = header.correlationID
        guard let upstream = self.upstream else { return }
        guard expectsResponse, self.recorder != nil, let eventLoop = self.context?.eventLoop else {
            upstream.write(lastPart)
            return
        }
        let written = eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenSuccess {
            let now = NIODeadline.now()
            self.stateMachine.updateRequest(correlationID: correlationID) { $0.sentAt = now }
        }
        upstream.write(lastPart, promise: written)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.upstream?.flush()
        context.fireChannelReadComplete()
    }

    /// Reads from the client only while upstream can take more and the in-flight cap is not reached.
    func read(context: ChannelHandlerContext) {
        if self.stateMachine.acceptsRequests && (self.upstream?.isWritable ?? false) {
            context.read()
        } else {
            self.pendingRead = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { self.upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ProxyDrainEvent:
            if self.stateMachine.drain() == .closeNow && self.gateOpen { self.closeAfterPendingWrites() }
        case let identity as ClientCertificateIdentified:
            self.named(principal: identity.subject)
            self.logger.debug("client certificate verified")
        case let idle as IdleStateHandler.IdleStateEvent where idle == .all:
            self.fail(ProxyError(.idleTimeout, "no traffic for \(self.proxy.configuration.idleTimeout)"), side: "client")
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
        self.fail(ProxyError(ProxyError.code(for: error), "client side: \(error)"), side: "client")
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.authenticationEnded(self.sasl.closed())
        let unanswered = self.stateMachine.closed()
        if !unanswered.isEmpty {
            self.logger.debug("client closed with requests in flight", metadata: ["kafka.in_flight": "\(unanswered.count)"])
        }
        self.recorder?.closed()
        self.proxy.metrics.connectionClosed(side: "client")
        self.proxy.connections.remove(context.channel)
        self.upstream?.detach()
        self.upstream?.close()
        self.upstream = nil
        context.fireChannelInactive()
    }

    // MARK: Upstream events

    func responsePartReceived(_ part: FramePart) {
        if self.sasl.unansweredLegacyTokens > 0, case .frame(let token) = part {
            // A bare token answering a legacy SASL token: no header, nothing to pair.
            self.send(token, after: nil, completing: nil)
            self.authenticationEnded(self.sasl.tokenAnswered(errorCode: 0, token: Array(token.readableBytesView.dropFirst(4))))
            self.resumeClientReadIfPossible()
            return
        }
        switch part {
        case .frame(let frame):
            guard let (request, closeWhenDone) = self.responseStarted(frame) else { return }
            self.deliver(frame, answering: request)
            self.responseFinished(closeWhenDone: closeWhenDone)
        case .head(let head, let remaining):
            guard let (request, closeWhenDone) = self.responseStarted(head) else { return }
            let rewrite = ResponseRewriter.mayRewrite(request.apiKey, version: request.apiVersion)
            let assembly = FrameAssembly.starting(
                head, remaining: remaining, rewrite: rewrite,
                skeleton: self.recorder == nil ? nil : .response(request.apiKey, request.apiVersion))
            if !rewrite { self.send(head, after: nil, completing: nil) }
            self.streamed = StreamedResponse(
                request: request, closeWhenDone: closeWhenDone, frameBytes: head.readableBytes + remaining,
                assembly: assembly)
        case .continuation(let bytes, let last):
            guard var streamed = self.streamed else {
                self.fail(ProxyError(.malformedFrame, "response bytes outside any frame"), side: "broker")
                return
            }
            self.streamed = nil
            streamed.assembly.append(bytes)
            guard last else {
                if case .copy = streamed.assembly {} else { self.send(bytes, after: nil, completing: nil) }
                self.streamed = streamed
                return
            }
            switch streamed.assembly {
            case .copy(let whole):
                self.deliver(whole, answering: streamed.request)
            case .skeleton(let skeleton):
                let error = self.recorder?.responseRead(
                    skeleton, apiKey: streamed.request.apiKey, frameBytes: streamed.frameBytes,
                    brokerDuration: streamed.request.brokerDuration)
                if let error { self.logger.debug("response not decoded; forwarded as is", metadata: ["error": "\(error)"]) }
                self.send(bytes, after: nil, completing: streamed.request)
            case .none:
                self.send(bytes, after: nil, completing: nil)
            }
            self.responseFinished(closeWhenDone: streamed.closeWhenDone)
        }
    }

    /// Pairs a response with its request; nil when the connection had to close instead.
    private func responseStarted(_ start: ByteBuffer) -> (InFlightRequest, closeWhenDone: Bool)? {
        guard let correlationID = start.getInteger(at: start.readerIndex + 4, as: Int32.self) else {
            self.fail(ProxyError(.malformedFrame, "a response of \(start.readableBytes) bytes has no header"), side: "broker")
            return nil
        }
        switch self.stateMachine.responseReceived(correlationID: correlationID) {
        case .forward(let request): return (request, false)
        case .forwardAndClose(let request): return (request, true)
        case .close(let error):
            self.fail(error, side: "broker")
            return nil
        }
    }

    private func responseFinished(closeWhenDone: Bool) {
        if closeWhenDone {
            // With responses held for a listener, releasing them closes the connection instead.
            if self.gateOpen { self.closeAfterPendingWrites() }
        } else {
            self.resumeClientReadIfPossible()
        }
    }

    func upstreamWritabilityChanged() {
        self.resumeClientReadIfPossible()
    }

    func upstreamClosed() {
        guard self.stateMachine.state != .closed else { return }
        self.fail(ProxyError(.upstreamClosed, "the broker closed the connection"), side: "broker")
    }

    func upstreamFailed(_ error: any Error) {
        self.fail(ProxyError(ProxyError.code(for: error), "broker side: \(error)"), side: "broker")
    }

    func flush() {
        self.context?.flush()
    }

    // MARK: SASL

    /// Forwards a client frame that is a bare legacy SASL token; false when the frame is a request after all (an
    /// exchange of unknown length has ended).
    private func forwardLegacyToken(_ part: FramePart) -> Bool {
        guard case .frame(let token) = part else {
            self.fail(ProxyError(.malformedFrame, "a legacy SASL token of 64 KiB or more"), side: "client")
            return true
        }
        let payload = token.getSlice(at: token.readerIndex + 4, length: token.readableBytes - 4)!
        if !self.sasl.legacyLengthKnown, case .message? = try? KafkaCodec.decodeRequest(payload) {
            return false
        }
        self.sasl.tokenSent(Array(payload.readableBytesView))
        self.upstream?.write(token)
        return true
    }

    /// Labels the connection's requests and log lines with who the client is, from here on.
    private func named(principal: String) {
        let bounded = String(principal.prefix(SaslPrincipal.maximumLength))
        self.recorder?.authenticated(as: bounded)
        self.logger[metadataKey: "kafka.principal"] = "\(bounded)"
    }

    /// Counts and logs the end of an authentication; the principal labels the connection from then on.
    private func authenticationEnded(_ event: SaslObserver.Event?) {
        switch event {
        case .authenticated(let mechanism, let principal)?:
            self.proxy.metrics.saslAuthentication(mechanism: SaslObserver.label(mechanism), succeeded: true)
            self.named(principal: principal ?? "unknown")
            self.logger.info("client authenticated", metadata: ["kafka.sasl.mechanism": "\(mechanism)"])
        case .failed(let mechanism, let principal)?:
            self.proxy.metrics.saslAuthentication(mechanism: SaslObserver.label(mechanism), succeeded: false)
            self.logger.notice(
                "client authentication failed",
                metadata: ["kafka.sasl.mechanism": "\(mechanism)", "kafka.sasl.user": "\(principal ?? "unknown")"])
        case nil:
            break
        }
    }

    // MARK: Internals

    private func connectUpstream(context: ChannelHandlerContext) {
        let targets: [HostAndPort]
        switch self.route {
        case .bootstrap:
            targets = self.proxy.configuration.bootstrapServers
        case .broker(let nodeID):
            guard let address = self.proxy.directory.upstreamAddress(of: nodeID) else {
                self.fail(ProxyError(.unknownBroker, "no upstream address known for broker \(nodeID)"), side: "broker")
                return
            }
            targets = [address]
        }
        self.connect(to: targets[...], eventLoop: context.eventLoop, lastError: nil)
    }

    /// Tries each target in turn; the bootstrap route may list several.
    private func connect(to targets: ArraySlice<HostAndPort>, eventLoop: any EventLoop, lastError: (any Error)?) {
        guard let target = targets.first else {
            self.fail(ProxyError(.upstreamConnectFailed, "\(lastError.map { "\($0)" } ?? "no upstream configured")"), side: "broker")
            return
        }
        let maximumFrame = max(self.proxy.configuration.maxResponseFrameBytes, self.proxy.configuration.maxFrameBytes)
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let metrics = self.proxy.metrics
        let recorder = self.proxy.recorder
        let proxy = self.proxy
        self.proxy.connector.connect(to: target, on: eventLoop, timeout: self.proxy.configuration.connectTimeout.timeAmount) { channel in
            do {
                try UpstreamTLS.addHandlers(to: channel, host: target.host, proxy: proxy)
                if let recorder { try channel.pipeline.syncOperations.addHandler(recorder.handler(mode: .client)) }
                try channel.pipeline.syncOperations.addHandlers([
                    ByteToMessageHandler(FrameStreamDecoder.responses(maximumFrameLength: maximumFrame)),
                    UpstreamConnectionHandler(client: bound.value, metrics: metrics),
                ])
                return channel.eventLoop.makeSucceededVoidFuture()
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }
        .whenComplete { result in
            let handler = bound.value
            switch result {
            case .success(let channel):
                handler.upstreamConnected(channel, target: target)
            case .failure(let error):
                handler.logger.debug("upstream connect failed", metadata: ["kafka.upstream": "\(target)", "error": "\(error)"])
                handler.connect(to: targets.dropFirst(), eventLoop: eventLoop, lastError: error)
            }
        }
    }

    private func upstreamConnected(_ channel: any Channel, target: HostAndPort) {
        guard self.context != nil, self.stateMachine.state == .connecting else {
            channel.close(promise: nil)  // the client left while we were connecting
            return
        }
        guard let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self) else {
            channel.close(promise: nil)
            return
        }
        self.upstream = handler
        if case .bootstrap = self.route { self.proxy.readiness.brokerReached() }
        self.logger[metadataKey: "kafka.upstream"] = "\(target)"
        self.stateMachine.upstreamConnected()
        self.logger.debug("upstream connected")
        self.resumeClientReadIfPossible()
    }

    private func resumeClientReadIfPossible() {
        guard self.pendingRead, self.stateMachine.acceptsRequests, self.upstream?.isWritable ?? false,
            let context = self.context
        else { return }
        self.pendingRead = false
        context.read()
    }

    /// Sends a whole response on to the client, rewritten where it names brokers, and counts it.
    private func deliver(_ frame: ByteBuffer, answering request: InFlightRequest) {
        if SaslFrames.isSasl(request.apiKey) {
            let payload = frame.getSlice(at: frame.readerIndex + 4, length: frame.readableBytes - 4)!
            self.authenticationEnded(
                SaslFrames.observeResponse(payload, key: request.apiKey, version: request.apiVersion, into: &self.sasl))
        }
        var outgoing = frame
        var gate: EventLoopFuture<Void>?
        if ResponseRewriter.mayRewrite(request.apiKey, version: request.apiVersion) {
            switch self.proxy.rewriter.rewrite(frame, for: request) {
            case .unchanged:
                break
            case .rewritten(let rewritten, let brokers, let clamped):
                outgoing = rewritten
                if !brokers.isEmpty {
                    self.proxy.metrics.addressesRewritten(api: request.apiKey)
                    if let eventLoop = self.context?.eventLoop {
                        gate = self.proxy.directory.record(brokers, on: eventLoop)
                    }
                }
                for api in clamped { self.proxy.metrics.versionClamped(api: api) }
            case .undecodable(let error):
                // Forward what the broker sent: a client may still understand it (an ApiVersions error is
                // answered at version 0, for one), and the proxy must not turn a broker answer into a hang. The
                // recorder below counts the frame as undecoded.
                self.logger.debug("response not rewritten", metadata: ["error": "\(error)"])
            }
        }
        guard let recorder = self.recorder else {
            self.send(outgoing, after: gate, completing: nil)
            return
        }
        let payload = frame.getSlice(at: frame.readerIndex + 4, length: frame.readableBytes - 4)!
        if let error = recorder.responseRead(
            payload, apiKey: request.apiKey, apiVersion: request.apiVersion, frameBytes: outgoing.readableBytes,
            brokerDuration: request.brokerDuration)
        {
            self.logger.debug("response not decoded; forwarded as is", metadata: ["error": "\(error)"])
        }
        self.send(outgoing, after: gate, completing: request)
    }

    /// Writes a response, keeping order behind any response that still waits for a listener to open.
    /// `completing` is the request whose response this part ends.
    private func send(_ frame: ByteBuffer, after gate: EventLoopFuture<Void>?, completing request: InFlightRequest?) {
        guard let context = self.context else { return }
        if let gate {
            self.gateSequence += 1
            self.gateOpen = false
            self.heldResponses.append((frame, request))
            let sequence = self.gateSequence
            gate.hop(to: context.eventLoop).assumeIsolated().whenComplete { _ in
                // Each gate waits on every listener still opening, so the newest one releases everything.
                guard sequence == self.gateSequence else { return }
                self.releaseHeldResponses()
            }
        } else if !self.gateOpen {
            self.heldResponses.append((frame, request))
        } else {
            self.write(frame, completing: request, context: context)
        }
    }

    private func write(_ frame: ByteBuffer, completing request: InFlightRequest?, context: ChannelHandlerContext) {
        guard let request else {
            context.write(self.wrapOutboundOut(frame), promise: nil)
            return
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenSuccess {
            self.recorder?.responseDelivered(apiKey: request.apiKey, after: Duration(NIODeadline.now() - request.receivedAt))
        }
        context.write(self.wrapOutboundOut(frame), promise: written)
    }

    private func releaseHeldResponses() {
        self.gateOpen = true
        guard let context = self.context else { return }
        while let (frame, request) = self.heldResponses.popFirst() {
            self.write(frame, completing: request, context: context)
        }
        context.flush()
        self.upstream?.resumeReading()
        if self.stateMachine.state == .closed { self.closeAfterPendingWrites() }
    }

    private func fail(_ error: ProxyError, side: String) {
        self.proxy.metrics.connectionError(side: side, reason: error.code.description)
        self.logger.notice("closing connection", metadata: ["reason": "\(error.code)", "detail": "\(error.detail)"])
        _ = self.stateMachine.closed()
        self.closeBoth()
    }

    /// Closes once everything written so far has reached the socket: the answers a draining client waits for.
    private func closeAfterPendingWrites() {
        guard let context = self.context else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer())).whenComplete { _ in bound.value.closeBoth() }
    }

    private func closeBoth() {
        self.upstream?.close()
        self.context?.close(promise: nil)
    }
}

@available(*, unavailable)
extension ClientConnectionHandler: Sendable {}
