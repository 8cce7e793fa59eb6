import NIOCore
import NIOEmbedded
import Testing

@testable import KafkaProxy

/// A client speaking the wrong protocol for its listener is refused with a reason, on the first bytes.
@Suite struct ProtocolMismatchDetectorTests {
    static let clientHello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0xF4, 0x01]
    static let kafkaRequest: [UInt8] = [0x00, 0x00, 0x00, 0x15, 0x00, 0x12]

    @Test func tlsOnAPlaintextListenerIsRefused() throws {
        let channel = EmbeddedChannel(handler: ProtocolMismatchDetector(expectsTLS: false))
        #expect(throws: ProtocolMismatchError.self) { try channel.writeInbound(ByteBuffer(bytes: Self.clientHello)) }
    }

    @Test func plaintextOnATLSListenerIsRefused() throws {
        let channel = EmbeddedChannel(handler: ProtocolMismatchDetector(expectsTLS: true))
        #expect(throws: ProtocolMismatchError.self) { try channel.writeInbound(ByteBuffer(bytes: Self.kafkaRequest)) }
    }

    @Test(arguments: [false, true])
    func theRightProtocolPassesWholeAndTheDetectorLeaves(tls: Bool) throws {
        let channel = EmbeddedChannel(handler: ProtocolMismatchDetector(expectsTLS: tls))
        let bytes = tls ? Self.clientHello : Self.kafkaRequest
        // A first byte of 22 could start either; the detector waits for the second and loses nothing. Any other
        // first byte decides at once.
        try channel.writeInbound(ByteBuffer(bytes: bytes.prefix(1)))
        let early = try channel.readInbound(as: ByteBuffer.self)
        try channel.writeInbound(ByteBuffer(bytes: bytes.dropFirst()))
        var received = early ?? ByteBuffer()
        while var more = try channel.readInbound(as: ByteBuffer.self) { received.writeBuffer(&more) }
        #expect(received == ByteBuffer(bytes: bytes))
        #expect((early == nil) == tls)
        try channel.writeInbound(ByteBuffer(bytes: [0x16, 0x03]))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(bytes: [0x16, 0x03]), "later bytes are not inspected")
        #expect(try channel.finish().isClean)
    }
}
