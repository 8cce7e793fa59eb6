import KafkaCodec
import NIOCore

/// Follows the two Kafka byte streams of one connection leg (requests one way, responses the other) and gives
/// back the bytes to record, with every SASL token blanked: the `authBytes` of SaslAuthenticate requests and
/// responses, and the bare tokens exchanged after a SaslHandshake v0.
///
/// It keeps its own framing rather than asking the connection handler, because the recording sees bytes before
/// the handler does. Frames that may carry a token are held until whole (tokens are small); all others pass as
/// they come.
struct SaslRedactor {
    enum Stream { case requests, responses }

    /// A frame larger than this is not held: it cannot be a token, and holding it would cost memory.
    static let maximumHeldFrame = 1 << 20

    private var requests = FrameCursor()
    private var responses = FrameCursor()
    /// SaslAuthenticate requests waiting for their response, by correlation id: the response's version.
    private var authenticating: [Int32: Int16] = [:]
    /// A SaslHandshake v0 waiting for its response; its success starts the bare-token exchange.
    private var legacyHandshake: Int32?
    private var legacyTokens = false
    private var unansweredTokens = 0

    mutating func record(_ bytes: ByteBuffer, stream: Stream) -> [ByteBuffer] {
        var input = bytes
        var output: [ByteBuffer] = []
        // The cursor is taken out while it runs: its callbacks change the rest of the redactor.
        var cursor = stream == .requests ? self.requests : self.responses
        while input.readableBytes > 0 {
            switch stream {
            case .requests:
                cursor.take(&input, into: &output, decide: { self.requestDecision($0) }, complete: { self.requestFrame($0) })
            case .responses:
                cursor.take(&input, into: &output, decide: { self.responseDecision($0) }, complete: { self.responseFrame($0) })
            }
        }
        if stream == .requests { self.requests = cursor } else { self.responses = cursor }
        return output
    }

    // MARK: Requests

    /// Whether a request frame must be held whole, from its first bytes; nil to wait for more of them.
    private func requestDecision(_ head: ByteBuffer) -> FrameCursor.Decision? {
        // After a legacy handshake, each frame is a token until one decodes as a request: hold them all.
        if self.legacyTokens { return .hold }
        guard let key = head.getInteger(at: head.readerIndex + 4, as: Int16.self) else { return nil }
        return key == APIKey.saslAuthenticate.rawValue || key == APIKey.saslHandshake.rawValue ? .hold : .pass
    }

    private mutating func requestFrame(_ frame: ByteBuffer) -> ByteBuffer {
        let payload = frame.framePayload
        if self.legacyTokens {
            if case .message? = try? KafkaCodec.decodeRequest(payload) {
                self.legacyTokens = false  // the exchange is over; this is an ordinary request
            } else {
                self.unansweredTokens += 1
                return Self.blanked(frame)
            }
        }
        guard let header = KafkaCodec.peekRequestHeader(payload) else { return frame }
        switch header.apiKey {
        case .saslHandshake where header.apiVersion == 0:
            self.legacyHandshake = header.correlationID
        case .saslAuthenticate:
            self.authenticating[header.correlationID] = header.apiVersion
            // A token that does not parse is blanked whole rather than recorded.
            return KafkaCodec.blankingSaslToken(inRequest: payload).map(Self.framed) ?? Self.blanked(frame)
        default:
            break
        }
        return frame
    }

    // MARK: Responses

    private func responseDecision(_ head: ByteBuffer) -> FrameCursor.Decision? {
        if self.unansweredTokens > 0 { return .hold }
        guard let correlationID = head.getInteger(at: head.readerIndex + 4, as: Int32.self) else { return nil }
        return self.authenticating[correlationID] != nil || correlationID == self.legacyHandshake ? .hold : .pass
    }

    private mutating func responseFrame(_ frame: ByteBuffer) -> ByteBuffer {
        if self.unansweredTokens > 0 {
            self.unansweredTokens -= 1
            return Self.blanked(frame)
        }
        let payload = frame.framePayload
        guard let correlationID = payload.getInteger(at: payload.readerIndex, as: Int32.self) else { return frame }
        if correlationID == self.legacyHandshake {
            self.legacyHandshake = nil
            // Error code right after the correlation id (SaslHandshake v0 has header v0).
            self.legacyTokens = payload.getInteger(at: payload.readerIndex + 4, as: Int16.self) == 0
            return frame
        }
        guard let version = self.authenticating.removeValue(forKey: correlationID) else { return frame }
        return KafkaCodec.blankingSaslToken(inResponse: payload, version: version).map(Self.framed) ?? Self.blanked(frame)
    }

    // MARK: Helpers

    /// The frame with everything after its size prefix zeroed.
    private static func blanked(_ frame: ByteBuffer) -> ByteBuffer {
        var copy = ByteBuffer()
        copy.writeInteger(Int32(frame.readableBytes - 4))
        copy.writeRepeatingByte(0, count: frame.readableBytes - 4)
        return copy
    }

    private static func framed(_ payload: ByteBuffer) -> ByteBuffer {
        var frame = ByteBuffer()
        frame.writeInteger(Int32(payload.readableBytes))
        frame.writeImmutableBuffer(payload)
        return frame
    }
}

/// Finds frame boundaries in a byte stream and either passes a frame's bytes on as they come or holds the frame
/// until it is whole.
struct FrameCursor {
    enum Decision { case pass, hold }

    private enum State {
        /// Collecting the start of a frame, up to the 12 bytes (size, key, version, correlation id) that decide.
        case starting(ByteBuffer)
        case passing(remaining: Int)
        case holding(ByteBuffer, remaining: Int)
    }

    private var state = State.starting(ByteBuffer())

    /// Consumes some of `input` (at least one byte), appending what is ready to record to `output`. `decide`
    /// returns nil when the bytes so far are too few; `complete` turns a held frame into what to record.
    mutating func take(
        _ input: inout ByteBuffer, into output: inout [ByteBuffer], decide: (ByteBuffer) -> Decision?,
        complete: (ByteBuffer) -> ByteBuffer
    ) {
        switch self.state {
        case .passing(let remaining):
            let part = input.readSlice(length: min(remaining, input.readableBytes))!
            output.append(part)
            self.state = part.readableBytes == remaining ? .starting(ByteBuffer()) : .passing(remaining: remaining - part.readableBytes)
        case .holding(var held, let remaining):
            var part = input.readSlice(length: min(remaining, input.readableBytes))!
            let added = part.readableBytes
            held.writeBuffer(&part)
            if added == remaining {
                output.append(complete(held))
                self.state = .starting(ByteBuffer())
            } else {
                self.state = .holding(held, remaining: remaining - added)
            }
        case .starting(var head):
            let total = head.getInteger(at: head.readerIndex, as: Int32.self).map { 4 + max(0, Int($0)) }
            let wanted = total.map { min(12, $0) } ?? 4
            var part = input.readSlice(length: min(wanted - head.readableBytes, input.readableBytes))!
            head.writeBuffer(&part)
            guard let total = head.getInteger(at: head.readerIndex, as: Int32.self).map({ 4 + max(0, Int($0)) }),
                head.readableBytes >= min(12, total)
            else {
                self.state = .starting(head)
                return
            }
            // A frame too short to decide on is tiny: hold it.
            let decision = decide(head) ?? .hold
            if decision == .hold && total <= SaslRedactor.maximumHeldFrame {
                if total == head.readableBytes {
                    output.append(complete(head))
                    self.state = .starting(ByteBuffer())
                } else {
                    self.state = .holding(head, remaining: total - head.readableBytes)
                }
            } else {
                output.append(head)
                self.state = total > head.readableBytes ? .passing(remaining: total - head.readableBytes) : .starting(ByteBuffer())
            }
        }
    }
}
