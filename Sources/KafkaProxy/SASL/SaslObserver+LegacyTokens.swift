import KafkaCodec
import NIOCore

/// Bare SASL tokens (after SaslHandshake v0) as actions for the connection handler: they carry no header, so they
/// pass outside the request/response pairing.
extension SaslObserver {
    enum ClientTokenAction {
        /// Forward this bare token upstream.
        case forward(ByteBuffer)
        /// The frame is a request after all: an exchange of unknown length has ended.
        case request
        case fail(ProxyError)
    }

    /// A client part while `expectsLegacyTokens`.
    mutating func clientPartWhileExchangingTokens(_ part: FramePart) -> ClientTokenAction {
        guard case .frame(let token) = part else {
            return .fail(ProxyError(.malformedFrame, "a legacy SASL token of 64 KiB or more"))
        }
        let payload = token.framePayload
        if !self.legacyLengthKnown, case .message? = try? KafkaCodec.decodeRequest(payload) {
            return .request
        }
        self.tokenSent(Array(payload.readableBytesView))
        return .forward(token)
    }

    /// A broker part: the bare token answering a legacy one, with what its answer ends, or nil for a response.
    mutating func brokerAnswer(_ part: FramePart) -> (token: ByteBuffer, event: Event?)? {
        guard self.unansweredLegacyTokens > 0, case .frame(let token) = part else { return nil }
        return (token, self.tokenAnswered(errorCode: 0, token: Array(token.readableBytesView.dropFirst(4))))
    }
}
