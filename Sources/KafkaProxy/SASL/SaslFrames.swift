import KafkaCodec
import NIOCore

/// The fields of SaslHandshake and SaslAuthenticate frames that `SaslObserver` follows. These frames are few and
/// small, so they are simply decoded.
enum SaslFrames {
    static func isSasl(_ key: APIKey) -> Bool { key == .saslHandshake || key == .saslAuthenticate }

    /// Feeds a SASL request (the payload after the size prefix) to the observer.
    static func observeRequest(_ payload: ByteBuffer, key: APIKey, version: Int16, into observer: inout SaslObserver) {
        guard case .message(let request)? = try? KafkaCodec.decodeRequest(payload),
            let schema = APIDescriptor.lookup(key)?.request.body
        else { return }
        switch key {
        case .saslHandshake:
            if case .string(let mechanism)? = request.body.value("mechanism", in: schema) {
                observer.handshakeRequested(mechanism: mechanism, version: version)
            }
        case .saslAuthenticate:
            if case .bytes(let token)? = request.body.value("authBytes", in: schema) {
                observer.tokenSent(Array(token.readableBytesView))
            }
        default:
            break
        }
    }

    /// Feeds the response to a SASL request to the observer.
    static func observeResponse(
        _ payload: ByteBuffer, key: APIKey, version: Int16, into observer: inout SaslObserver
    ) -> SaslObserver.Event? {
        guard case .message(let response)? = try? KafkaCodec.decodeResponse(payload, apiKey: key, apiVersion: version),
            let schema = APIDescriptor.lookup(key)?.response.body,
            case .int16(let errorCode)? = response.body.value("errorCode", in: schema)
        else { return nil }
        switch key {
        case .saslHandshake:
            return observer.handshakeAnswered(errorCode: errorCode)
        case .saslAuthenticate:
            let token: [UInt8] = if case .bytes(let bytes)? = response.body.value("authBytes", in: schema) {
                Array(bytes.readableBytesView)
            } else {
                []
            }
            return observer.tokenAnswered(errorCode: errorCode, token: token)
        default:
            return nil
        }
    }
}
