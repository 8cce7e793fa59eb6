import KafkaCodec
import KafkaProxyMetrics
import Logging
import NIOCore

/// SASL passing through: the principal names the connection's metrics and log lines; secrets are never kept.
extension ClientConnectionHandler {
    /// Follows a forwarded request's part in the SASL exchange; any other request ends a framed exchange.
    func observeSasl(request payload: ByteBuffer, header: RequestHeaderPrefix, whole: Bool) {
        if SaslFrames.isSasl(header.apiKey) {
            if whole { SaslFrames.observeRequest(payload, key: header.apiKey, version: header.apiVersion, into: &self.sasl) }
        } else {
            self.authenticationEnded(self.sasl.otherRequestSent())
        }
    }

    /// Follows a SASL response on its way to the client.
    func observeSasl(response frame: ByteBuffer, answering request: InFlightRequest) {
        guard SaslFrames.isSasl(request.apiKey) else { return }
        self.authenticationEnded(
            SaslFrames.observeResponse(frame.framePayload, key: request.apiKey, version: request.apiVersion, into: &self.sasl))
    }

    /// Carries out what the observer decides for a client part while bare tokens are expected; false when the part
    /// is a request after all and goes the usual way.
    func passLegacyToken(_ part: FramePart) -> Bool {
        switch self.sasl.clientPartWhileExchangingTokens(part) {
        case .forward(let token):
            self.upstream?.write(token)
            return true
        case .request:
            return false
        case .fail(let error):
            self.fail(error, side: .client)
            return true
        }
    }

    /// Carries a bare token answering a legacy one to the client; false for a response, which goes the usual way.
    func passLegacyAnswer(_ part: FramePart) -> Bool {
        guard let (token, event) = self.sasl.brokerAnswer(part) else { return false }
        self.send(token, after: nil, completing: nil)
        self.authenticationEnded(event)
        self.resumeClientReadIfPossible()
        return true
    }

    /// Labels the connection's requests and log lines with who the client is, from here on.
    func named(principal: String) {
        let bounded = WireText.printable(String(principal.prefix(SaslPrincipal.maximumLength)))
        self.recorder?.authenticated(as: bounded)
        self.logger[metadataKey: "kafka.principal"] = "\(bounded)"
    }

    /// Counts and logs the end of an authentication; the principal labels the connection from then on.
    func authenticationEnded(_ event: SaslObserver.Event?) {
        switch event {
        case .authenticated(let mechanism, let principal)?:
            self.proxy.metrics.saslAuthentication(mechanism: SaslObserver.label(mechanism), succeeded: true)
            self.named(principal: principal ?? "unknown")
            self.logger.info("client authenticated", metadata: ["kafka.sasl.mechanism": "\(WireText.printable(mechanism))"])
        case .failed(let mechanism, let principal)?:
            self.proxy.metrics.saslAuthentication(mechanism: SaslObserver.label(mechanism), succeeded: false)
            self.logger.notice(
                "client authentication failed",
                metadata: [
                    "kafka.sasl.mechanism": "\(WireText.printable(mechanism))",
                    "kafka.sasl.user": "\(WireText.printable(principal ?? "unknown"))",
                ])
        case nil:
            break
        }
    }
}
