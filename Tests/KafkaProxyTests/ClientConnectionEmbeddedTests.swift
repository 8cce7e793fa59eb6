import KafkaCodec
import KafkaProxyMetrics
import KafkaTestSupport
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import KafkaProxy

/// The handler pair on `EmbeddedChannel`s: the real pipelines, no ports, no sleeps. Each case drives one decision
/// the connection's machines make through the handlers that carry it out.
@Suite struct ClientConnectionEmbeddedTests {
    let metrics = KafkascopeMetrics()

    func connection(
        openListener: (@Sendable (any EventLoop, Int32, Int) -> EventLoopFuture<Bool>)? = nil
    ) throws -> EmbeddedProxyConnection {
        try EmbeddedProxyConnection(metrics: self.metrics, logger: Logger(label: "test"), openListener: openListener)
    }

    func errors(_ reason: String, side: ConnectionSide) -> Double {
        Exposition(self.metrics.exposition()).sum("kafkascope_connection_errors_total", ["side": side.rawValue, "reason": reason])
    }

    @Test func bareSaslTokensPassBothWaysAndTheExchangeIsCounted() throws {
        let connection = try self.connection()
        defer { connection.close() }
        let handshake = try EncodedFrames.request(.saslHandshake, 0, correlationID: 1) { body, schema in
            body.setValue(.string("PLAIN"), for: "mechanism", in: schema)
        }
        connection.clientSends(handshake)
        #expect(connection.takeSentToBroker() == handshake)
        let accepted = try EncodedFrames.response(.saslHandshake, 0, correlationID: 1) { body, schema in
            body.setValue(.int16(0), for: "errorCode", in: schema)
        }
        connection.brokerSends(accepted)
        #expect(connection.takeSentToClient() == accepted)
        // A bare token: a size prefix and no request header, which the pairing must not read as a request.
        let plain = Array("\u{0}alice\u{0}s3cr".utf8)
        var token = ByteBuffer()
        token.writeInteger(Int32(plain.count))
        token.writeBytes(plain)
        connection.clientSends(token)
        #expect(connection.takeSentToBroker() == token)
        var answer = ByteBuffer()
        answer.writeInteger(Int32(0))
        connection.brokerSends(answer)
        #expect(connection.takeSentToClient() == answer)
        #expect(Exposition(self.metrics.exposition()).sum(
            "kafkascope_sasl_authentications_total", ["mechanism": "PLAIN", "outcome": "success"]) == 1)
        // Requests pair as before once the exchange is over.
        let metadata = try EncodedFrames.request(.metadata, 12, correlationID: 2)
        connection.clientSends(metadata)
        #expect(connection.takeSentToBroker() == metadata)
        #expect(connection.isOpen)
    }

    /// Found by the proxy fuzzer's memory growth: a read that completes a frame and then fails on the next one
    /// closes the connection with the first frame written and not yet flushed. Its write promise, kept by the
    /// closed EmbeddedChannel, held the client handler and with it the whole connection.
    @Test(arguments: [true, false])
    func aConnectionClosedWithWritesNotYetFlushedIsReleased(onTheBrokerSide: Bool) throws {
        weak var released: ClientConnectionHandler?
        try {
            let connection = try self.connection()
            released = try connection.client.pipeline.syncOperations.handler(type: ClientConnectionHandler.self)
            var read = try EncodedFrames.request(.metadata, 12, correlationID: 1)
            if onTheBrokerSide {
                connection.clientSends(read)
                read = try EncodedFrames.response(.metadata, 12, correlationID: 1)
            }
            read.writeInteger(Int32.max)  // the size of a frame beyond any cap
            if onTheBrokerSide { connection.brokerSends(read) } else { connection.clientSends(read) }
            #expect(!connection.isOpen, "the oversized frame closes the connection")
            #expect(self.errors("malformed_frame", side: onTheBrokerSide ? .broker : .client) == 1)
            connection.close()
        }()
        #expect(released == nil, "the client handler outlived its connection")
    }

    @Test func aLargeRequestStreamsToTheBrokerByteForByteAndIsCounted() throws {
        let connection = try self.connection()
        defer { connection.close() }
        // The first generated request that carries records at all (array sizes are random).
        let produce = try #require(try (7..<40).lazy.map { correlationID in
            try EncodedFrames.request(.produce, 9, correlationID: correlationID, records: ByteBuffer(repeating: 0x5A, count: 200_000)) {
                body, schema in body.setValue(.int16(1), for: "acks", in: schema)
            }
        }.first { $0.readableBytes > 200_000 })
        let correlationID = try #require(produce.getInteger(at: produce.readerIndex + 8, as: Int32.self))
        // In three reads, so that the frame arrives as a head and continuations.
        var rest = produce
        for size in [1_000, 90_000] { connection.clientSends(rest.readSlice(length: size)!) }
        connection.clientSends(rest)
        #expect(connection.takeSentToBroker() == produce)
        let answer = try EncodedFrames.response(.produce, 9, correlationID: correlationID)
        connection.brokerSends(answer)
        #expect(connection.takeSentToClient() == answer)
        #expect(Exposition(self.metrics.exposition()).sum("kafkascope_requests_total", ["api": "Produce"]) == 1)
    }

    @Test func responsesWaitBehindOneNamingABrokerUntilItsListenerIsOpen() throws {
        let opened = NIOLockedValueBox<EventLoopPromise<Bool>?>(nil)
        let connection = try self.connection { loop, _, _ in
            let promise = loop.makePromise(of: Bool.self)
            opened.withLockedValue { $0 = promise }
            return promise.futureResult
        }
        defer { connection.close() }
        connection.clientSends(try EncodedFrames.request(.metadata, 12, correlationID: 1))
        connection.clientSends(try EncodedFrames.request(.listGroups, 4, correlationID: 2))
        _ = connection.takeSentToBroker()
        connection.brokerSends(try EncodedFrames.response(.metadata, 12, correlationID: 1) { body, schema in
            guard let field = schema.fields.first(where: { $0.name == "brokers" }), case .array(.structure(let broker)) = field.type
            else { return }
            var entry = KafkaStruct(values: Array(repeating: nil, count: broker.fields.count))
            entry.setValue(.int32(1), for: "nodeId", in: broker)
            entry.setValue(.string("10.0.0.1"), for: "host", in: broker)
            entry.setValue(.int32(9092), for: "port", in: broker)
            entry.setValue(.null, for: "rack", in: broker)
            body.setValue(.array([.structure(entry)]), for: "brokers", in: schema)
        })
        connection.brokerSends(try EncodedFrames.response(.listGroups, 4, correlationID: 2))
        #expect(connection.takeSentToClient().readableBytes == 0, "nothing passes the response naming a closed listener")
        let promise = try #require(opened.withLockedValue { $0 })
        promise.succeed(true)
        connection.loop.run()
        #expect(EncodedFrames.correlationIDs(in: connection.takeSentToClient()) == [1, 2])
    }

    @Test func aDrainAnswersWhatIsInFlightThenCloses() throws {
        let connection = try self.connection()
        defer { connection.close() }
        connection.clientSends(try EncodedFrames.request(.metadata, 12, correlationID: 3))
        connection.client.pipeline.fireUserInboundEventTriggered(ProxyDrainEvent())
        connection.loop.run()
        #expect(connection.isOpen, "a request is still awaited")
        let answer = try EncodedFrames.response(.listGroups, 4, correlationID: 3)
        connection.brokerSends(answer)
        #expect(EncodedFrames.correlationIDs(in: connection.takeSentToClient()) == [3])
        #expect(!connection.isOpen)
    }

    @Test func readsStopWhileTheOtherSideCannotTakeMore() throws {
        let connection = try self.connection()
        defer { connection.close() }
        let broker = try #require(connection.broker)
        let brokerReads = ReadCounter()
        let clientReads = ReadCounter()
        try broker.pipeline.syncOperations.addHandler(brokerReads, position: .first)
        try connection.client.pipeline.syncOperations.addHandler(clientReads, position: .first)

        connection.client.isWritable = false
        broker.read()
        #expect(brokerReads.count == 0, "the client cannot take responses: the broker is not read")
        connection.client.isWritable = true
        connection.client.pipeline.fireChannelWritabilityChanged()
        #expect(brokerReads.count == 1, "the waiting read goes on")

        broker.isWritable = false
        connection.client.read()
        #expect(clientReads.count == 0, "the broker cannot take requests: the client is not read")
        broker.isWritable = true
        broker.pipeline.fireChannelWritabilityChanged()
        #expect(clientReads.count == 1)
    }

    @Test func aResponseToAnotherRequestClosesTheConnection() throws {
        let connection = try self.connection()
        defer { connection.close() }
        connection.clientSends(try EncodedFrames.request(.metadata, 12, correlationID: 5))
        connection.brokerSends(try EncodedFrames.response(.metadata, 12, correlationID: 6))
        #expect(!connection.isOpen)
        #expect(connection.takeSentToClient().readableBytes == 0)
        #expect(self.errors("correlation_mismatch", side: .broker) == 1)
    }

    @Test func losingTheBrokerClosesTheClientAndIsCounted() throws {
        let connection = try self.connection()
        defer { connection.close() }
        connection.clientSends(try EncodedFrames.request(.metadata, 12, correlationID: 1))
        _ = try connection.broker?.close().wait()
        connection.loop.run()
        #expect(!connection.isOpen)
        #expect(self.errors("upstream_closed", side: .broker) == 1)
        #expect(Exposition(self.metrics.exposition()).sum(
            "kafkascope_requests_unanswered_total", ["api": "Metadata", "reason": "upstream_closed"]) == 1)
    }

    @Test func aClientLeavingWithRequestsInFlightCountsThemUnanswered() throws {
        let connection = try self.connection()
        defer { connection.close() }
        connection.clientSends(try EncodedFrames.request(.metadata, 12, correlationID: 1))
        connection.clientSends(try EncodedFrames.request(.listGroups, 4, correlationID: 2))
        _ = try connection.client.close().wait()
        connection.loop.run()
        let exposition = Exposition(self.metrics.exposition())
        #expect(exposition.sum("kafkascope_requests_unanswered_total", ["reason": "client_closed"]) == 2)
        #expect(exposition.sum("kafkascope_requests_unanswered_total", ["api": "ListGroups"]) == 1)
    }
}

/// Counts the reads that reach the channel: those the handlers let through.
private final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = Any
    private(set) var count = 0

    func read(context: ChannelHandlerContext) {
        self.count += 1
        context.read()
    }
}

extension ClientConnectionEmbeddedTests {
    /// Quiet for the idle timeout, counted from the last read from the client or write to it, the connection
    /// closes; any traffic starts the count again.
    @Test func aConnectionQuietForTheIdleTimeoutIsClosedAndCounted() throws {
        var configuration = ProxyConfiguration(
            bootstrapServers: [HostAndPort(host: "127.0.0.1", port: 9092)], listen: HostAndPort(host: "127.0.0.1", port: 19092))
        configuration.idleTimeout = .seconds(10)
        let connection = try EmbeddedProxyConnection(configuration: configuration, metrics: self.metrics, logger: Logger(label: "test"))
        defer { connection.close() }
        connection.advanceTime(by: .seconds(9))
        #expect(connection.isOpen)
        connection.clientSends(try EncodedFrames.request(.metadata, 12, correlationID: 1))
        connection.advanceTime(by: .seconds(9))
        #expect(connection.isOpen, "the request started the count again")
        connection.brokerSends(try EncodedFrames.response(.metadata, 12, correlationID: 1))
        #expect(connection.takeSentToClient().readableBytes > 0)
        connection.advanceTime(by: .seconds(9))
        #expect(connection.isOpen, "so did the response written back")
        connection.advanceTime(by: .seconds(2))
        #expect(!connection.isOpen)
        #expect(self.errors("idle_timeout", side: .client) == 1)
    }
}

extension ClientConnectionEmbeddedTests {
    /// What a producer's answers say of the logs reaches consumer lag in one step, `producedLogsHold` after the
    /// first answer held, rather than after every read of answers.
    @Test func produceAnswersReachLagOnceTheHoldIsOver() throws {
        let frames = try Fixtures.frames("kafka-python")
        let fetching = Set(frames.filter { $0.apiKey == .fetch || $0.apiKey == .listOffsets }.map(\.connection))
        // The connections whose log ends come from their Produce answers alone, each replayed on its own.
        let producers = Set(frames.filter { $0.apiKey == .produce }.map(\.connection)).subtracting(fetching).sorted()
        var connections: [EmbeddedProxyConnection] = []
        defer { connections.forEach { $0.close() } }
        var produced = 0
        for producer in producers {
            let (requests, answers) = Fixtures.replayable(frames, connection: producer)
            let connection = try self.connection()
            connections.append(connection)
            for request in requests {
                connection.clientSends(request.bytes)
                #expect(connection.takeSentToBroker() == request.bytes)
                let correlationID = try #require(KafkaCodec.peekRequestHeader(request.payload)).correlationID
                connection.brokerSends(try #require(answers[correlationID]))
                #expect(connection.takeSentToClient().readableBytes > 0)
                if request.apiKey == .produce {
                    produced += try #require(KafkaCodec.inspectRequest(request.payload).facts).records.map(\.tally.records).reduce(0, +)
                }
            }
        }
        let logEnds = { Exposition(self.metrics.exposition()).sum("kafkascope_topic_partition_current_offset") }
        #expect(produced > 0 && logEnds() == 0, "held")
        connections.forEach { $0.advanceTime(by: ClientConnectionHandler.producedLogsHold - .milliseconds(1)) }
        #expect(logEnds() == 0, "still held")
        connections.forEach { $0.advanceTime(by: .milliseconds(1)) }
        #expect(logEnds() == Double(produced), "every record produced, applied once the hold is over")
    }
}
