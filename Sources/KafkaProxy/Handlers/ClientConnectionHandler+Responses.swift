import KafkaCodec
import KafkaProxyMetrics
import Logging
import NIOCore

/// Responses from the broker on their way to the client: paired by the machine, rewritten where they name
/// brokers, held by its gate while the listeners they name open, and timed once written.
extension ClientConnectionHandler {
    func responsePartReceived(_ part: FramePart) {
        if self.passLegacyAnswer(part) { return }
        switch part {
        case .frame(let frame):
            guard let (request, closeWhenDone) = self.responseStarted(frame) else { return }
            self.deliver(frame, answering: request)
            self.responseFinished(closeWhenDone: closeWhenDone)
        case .head(let head, let remaining):
            guard let (request, closeWhenDone) = self.responseStarted(head) else { return }
            if let head = self.responseStream.started(
                head, remaining: remaining, answering: request, closeWhenDone: closeWhenDone, recording: self.recorder != nil)
            {
                self.send(head, after: nil, completing: nil)
            }
        case .continuation(let bytes, let last):
            switch self.responseStream.continued(bytes, last: last) {
            case .fail(let error):
                self.fail(error, side: .broker)
            case .keep:
                break
            case .send(let bytes):
                self.send(bytes, after: nil, completing: nil)
            case .deliverWhole(let whole, let streamed):
                self.deliver(whole, answering: streamed.request)
                self.responseFinished(closeWhenDone: streamed.closeWhenDone)
            case .finishFollowed(let skeleton, let lastPart, let streamed):
                let error = self.recorder?.responseRead(
                    skeleton, apiKey: streamed.request.apiKey, frameBytes: streamed.frameBytes,
                    brokerDuration: streamed.request.brokerDuration)
                if let error { self.logger.debug("response not decoded; forwarded as is", metadata: ["error": "\(error)"]) }
                self.send(lastPart, after: nil, completing: streamed.request)
                self.responseFinished(closeWhenDone: streamed.closeWhenDone)
            case .finish(let lastPart, let streamed):
                self.send(lastPart, after: nil, completing: nil)
                self.responseFinished(closeWhenDone: streamed.closeWhenDone)
            }
        }
    }

    /// Pairs a response with its request; nil when the connection had to close instead.
    private func responseStarted(_ start: ByteBuffer) -> (InFlightRequest, closeWhenDone: Bool)? {
        guard let correlationID = start.getInteger(at: start.readerIndex + 4, as: Int32.self) else {
            self.fail(ProxyError(.malformedFrame, "a response of \(start.readableBytes) bytes has no header"), side: .broker)
            return nil
        }
        switch self.stateMachine.responseReceived(correlationID: correlationID) {
        case .forward(let request): return (request, false)
        case .forwardAndClose(let request): return (request, true)
        case .close(let error):
            self.fail(error, side: .broker)
            return nil
        }
    }

    private func responseFinished(closeWhenDone: Bool) {
        guard closeWhenDone else {
            self.resumeClientReadIfPossible()
            return
        }
        switch self.stateMachine.lastResponseSent() {
        case .closeAfterWrites: self.closeAfterPendingWrites()
        case .closeWithHeldResponses: break  // releasing them closes
        }
    }

    /// Sends a whole response on to the client, rewritten where it names brokers, and counts it.
    private func deliver(_ frame: ByteBuffer, answering request: InFlightRequest) {
        self.observeSasl(response: frame, answering: request)
        var outgoing = frame
        var gate: EventLoopFuture<Void>?
        // Read once, for the recorder and for the rewriter, which asks whether a Produce or Fetch response carries
        // tagged fields (KIP-951's endpoints).
        let facts = self.recorder?.readFacts(ofResponse: frame.framePayload, apiKey: request.apiKey, apiVersion: request.apiVersion)
        if ResponseRewriter.mayRewrite(request.apiKey, version: request.apiVersion) {
            switch self.proxy.rewriter.rewrite(frame, for: request, facts: facts) {
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
        guard let recorder = self.recorder, let facts else {
            self.send(outgoing, after: gate, completing: nil)
            return
        }
        if let error = recorder.responseRead(
            facts, apiKey: request.apiKey, frameBytes: outgoing.readableBytes, brokerDuration: request.brokerDuration)
        {
            self.logger.debug("response not decoded; forwarded as is", metadata: ["error": "\(error)"])
        }
        self.send(outgoing, after: gate, completing: request)
    }

    /// Writes a response, or holds it as the machine's gate says: `gate` completes when the listeners it names are
    /// open. `completing` is the request whose response this part ends.
    func send(_ bytes: ByteBuffer, after gate: EventLoopFuture<Void>?, completing request: InFlightRequest?) {
        guard let context = self.context else { return }
        let response = ResponseGate.Response(bytes: bytes, completing: request)
        switch self.stateMachine.responseReady(response, waitsForListeners: gate != nil) {
        case .write(let response):
            self.write(response, context: context)
        case .hold:
            break
        case .holdUntilOpened(let ticket):
            gate!.hop(to: context.eventLoop).assumeIsolated().whenComplete { _ in self.listenersOpened(ticket: ticket) }
        }
    }

    private func listenersOpened(ticket: Int) {
        guard case .write(let held, let thenClose) = self.stateMachine.listenersOpened(ticket: ticket),
            let context = self.context
        else { return }
        for response in held { self.write(response, context: context) }
        self.flush()
        self.upstream?.resumeReading()
        if thenClose { self.closeAfterPendingWrites() }
    }

    /// Writes a response part; the one that completes a request ends its duration once it has gone out (`flush`).
    private func write(_ response: ResponseGate.Response, context: ChannelHandlerContext) {
        self.lastTraffic = context.eventLoop.now
        context.write(self.wrapOutboundOut(response.bytes), promise: nil)
        if let request = response.completing, self.recorder != nil {
            self.deliveries.append((request.apiKey, request.receivedAt))
            self.unflushedDeliveries += 1
        }
    }

    /// Sends what was written to the client; the requests its responses complete are timed once they have gone.
    /// Called once per batch of answers read from the broker.
    func flush() {
        self.applyProducedLogsSoon()
        self.context?.flush(reporting: &self.unflushedDeliveries) { count, succeeded in
            let now = NIODeadline.now()
            for _ in 0..<count {
                guard let delivered = self.deliveries.popFirst() else { return }
                if succeeded { self.recorder?.responseDelivered(apiKey: delivered.api, after: Duration(now - delivered.receivedAt)) }
            }
        }
    }
}
