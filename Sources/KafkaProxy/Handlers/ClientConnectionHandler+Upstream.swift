import KafkaProxyMetrics
import Logging
import NIOCore
import NIOExtras

/// The broker connection behind the client's: opened through the context's `UpstreamConnector`, and its events.
extension ClientConnectionHandler {
    func connectUpstream(context: ChannelHandlerContext) {
        let targets: [HostAndPort]
        switch self.route {
        case .bootstrap:
            targets = self.proxy.configuration.bootstrapServers
        case .broker(let nodeID):
            guard let address = self.proxy.directory.upstreamAddress(of: nodeID) else {
                self.fail(ProxyError(.unknownBroker, "no upstream address known for broker \(nodeID)"), side: .broker)
                return
            }
            targets = [address]
        }
        self.connect(to: targets[...], eventLoop: context.eventLoop, lastError: nil)
    }

    /// Tries each target in turn; the bootstrap route may list several.
    private func connect(to targets: ArraySlice<HostAndPort>, eventLoop: any EventLoop, lastError: (any Error)?) {
        guard let target = targets.first else {
            // Out of descriptors is the proxy's own state, not the broker's: said apart, so a dashboard can tell.
            let code: ProxyError.Code = lastError.map(AcceptErrorHandler.isOutOfDescriptors) == true ? .tooManyOpenFiles : .upstreamConnectFailed
            self.fail(ProxyError(code, "\(lastError.map { "\($0)" } ?? "no upstream configured")"), side: .broker)
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
                try channel.pipeline.syncOperations.addHandler(
                    UpstreamConnectionHandler(client: bound.value, metrics: metrics, maximumFrameLength: maximumFrame))
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
        guard self.context != nil, let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self),
            self.stateMachine.upstreamConnected()
        else {
            channel.close(promise: nil)  // the client left while we were connecting
            return
        }
        self.upstream = handler
        self.recorder?.brokerAddress = channel.remoteAddress?.endpointText ?? "\(target)"
        if case .bootstrap = self.route { self.proxy.readiness.brokerReached() }
        self.logger[metadataKey: "kafka.upstream"] = "\(target)"
        self.logger.debug("upstream connected")
        self.resumeClientReadIfPossible()
    }

    /// Whether the upstream side may read more responses.
    var canTakeResponses: Bool {
        self.stateMachine.acceptsResponses(clientWritable: self.isWritable)
    }

    /// Whether the client's connection takes more writes; false makes a back-pressure pause of the broker's reads
    /// (responses held for listeners to open are not one).
    var isWritable: Bool { self.context?.channel.isWritable ?? false }

    func upstreamWritabilityChanged() {
        self.resumeClientReadIfPossible()
    }

    func upstreamClosed() {
        if let error = self.stateMachine.upstreamClosed() { self.fail(error, side: .broker) }
    }

    func upstreamFailed(_ error: any Error) {
        self.fail(ProxyError(ProxyError.code(for: error), "broker side: \(error)"), side: .broker)
    }
}
