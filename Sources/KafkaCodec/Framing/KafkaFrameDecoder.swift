public import NIOCore

/// Splits a byte stream into Kafka frames: a 4-byte big-endian size, then that many bytes.
///
/// A struct, so it runs both in a channel (`ByteToMessageHandler`) and in `NIOSingleStepByteToMessageProcessor`
/// for captures. The size cap stops a hostile or broken peer from making us buffer without bound.
public struct KafkaFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    /// The broker's own `socket.request.max.bytes` default.
    public static let defaultMaximumFrameLength = 100 * 1024 * 1024

    public let maximumFrameLength: Int
    /// Whether emitted frames keep their 4-byte size prefix, so a proxy can forward the very bytes it read.
    public let includesSizePrefix: Bool

    public init(maximumFrameLength: Int = Self.defaultMaximumFrameLength, includesSizePrefix: Bool = false) {
        self.maximumFrameLength = maximumFrameLength
        self.includesSizePrefix = includesSizePrefix
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        try self.nextFrame(&buffer)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        try self.nextFrame(&buffer)
    }

    /// The typed-throws core, shared with callers that are not channel handlers.
    public func nextFrame(_ buffer: inout ByteBuffer) throws(KafkaDecodingError) -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return nil }
        guard length >= 0, Int(length) <= self.maximumFrameLength else {
            throw KafkaDecodingError(
                .invalidFrameLength, field: "size", offset: 0,
                "frame size \(length) is outside 0...\(self.maximumFrameLength)")
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        if self.includesSizePrefix {
            return buffer.readSlice(length: 4 + Int(length))
        }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(length))
    }
}

/// Writes the 4-byte size prefix in front of each outbound frame.
public struct KafkaFrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = ByteBuffer

    public init() {}

    public func encode(data: ByteBuffer, out: inout ByteBuffer) {
        out.writeInteger(Int32(data.readableBytes))
        out.writeImmutableBuffer(data)
    }
}

extension KafkaCodec {
    /// Checks the size prefix of one whole frame as on the wire and returns the payload behind it.
    ///
    /// Offsets in errors of the `decode…(prefixedFrame:)` functions count from the first byte of the prefix.
    static func payload(ofPrefixedFrame frame: ByteBuffer) throws(KafkaDecodingError) -> ByteBuffer {
        guard let length = frame.getInteger(at: frame.readerIndex, as: Int32.self) else {
            throw KafkaDecodingError(.truncated, field: "size", offset: 0, "a frame starts with a 4-byte size")
        }
        guard Int(length) == frame.readableBytes - 4 else {
            throw KafkaDecodingError(
                .invalidFrameLength, field: "size", offset: 0,
                "the size prefix says \(length) bytes, \(frame.readableBytes - 4) follow")
        }
        return frame.getSlice(at: frame.readerIndex + 4, length: Int(length))!
    }

    /// Decodes one request frame including its 4-byte size prefix.
    public static func decodeRequest(prefixedFrame frame: ByteBuffer) throws(KafkaDecodingError) -> DecodedFrame<KafkaRequest> {
        let payload = try self.payload(ofPrefixedFrame: frame)
        return try self.decodeRequest(payload, origin: payload.readerIndex - 4)
    }

    /// Decodes one response frame including its 4-byte size prefix.
    public static func decodeResponse(
        prefixedFrame frame: ByteBuffer,
        apiKey: APIKey,
        apiVersion: Int16
    ) throws(KafkaDecodingError) -> DecodedFrame<KafkaResponse> {
        let payload: ByteBuffer
        do {
            payload = try self.payload(ofPrefixedFrame: frame)
        } catch {
            throw error.about(apiKey, apiVersion)
        }
        return try self.decodeResponse(payload, apiKey: apiKey, apiVersion: apiVersion, origin: payload.readerIndex - 4)
    }
}
