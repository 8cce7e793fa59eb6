import KafkaCodec
import KafkaProxyMetrics
import NIOCore
import Testing

@testable import KafkaProxy

/// The actions the connection's machines return, with no I/O and no timing: when to read, when held responses
/// go, how a drain and a last response end the connection, how large frames pass, and bare SASL tokens.
@Suite struct ConnectionMachineActionTests {
    func request(_ id: Int32, _ key: APIKey = .metadata) -> InFlightRequest {
        InFlightRequest(apiKey: key, apiVersion: 12, correlationID: id, receivedAt: .now())
    }

    func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func aReadWaitsUntilRequestsCanBeTakenAndThenGoesOnce() {
        var machine = ConnectionStateMachine(maximumInFlight: 1)
        #expect(machine.readRequested(upstreamWritable: true) == .wait, "no upstream connection yet")
        machine.upstreamConnected()
        #expect(machine.readMayResume(upstreamWritable: false) == .wait, "upstream cannot take more")
        #expect(machine.readMayResume(upstreamWritable: true) == .read)
        #expect(machine.readMayResume(upstreamWritable: true) == .wait, "the waiting read was carried out")
        _ = machine.requestReceived(self.request(1), expectsResponse: true)
        #expect(machine.readRequested(upstreamWritable: true) == .pause(.inFlightCap), "the in-flight cap is reached")
        #expect(machine.readRequested(upstreamWritable: true) == .wait, "the same pause goes on")
        _ = machine.responseReceived(correlationID: 1)
        #expect(machine.readMayResume(upstreamWritable: true) == .read)
        #expect(machine.readRequested(upstreamWritable: false) == .pause(.brokerNotWritable), "a new pause")
    }

    /// Writes complete in order, so a flush's completion stamps the oldest requests not yet sent, as many as it
    /// sent, whatever their ids.
    @Test func eachCompletedFlushStampsTheOldestRequestsNotYetSent() {
        var machine = ConnectionStateMachine(maximumInFlight: 8)
        machine.upstreamConnected()
        for id: Int32 in [7, 8, 9] { _ = machine.requestReceived(self.request(id), expectsResponse: true) }
        let (first, second, third) = (NIODeadline.uptimeNanoseconds(100), NIODeadline.uptimeNanoseconds(200), NIODeadline.uptimeNanoseconds(300))
        machine.requestsSent(1, at: first)
        machine.requestsSent(1, at: second)
        guard case .forward(let answered) = machine.responseReceived(correlationID: 7) else {
            Issue.record("the response to 7 is forwarded")
            return
        }
        #expect(answered.sentAt == first)
        _ = machine.requestReceived(self.request(10), expectsResponse: true)
        _ = machine.requestReceived(self.request(11), expectsResponse: true)
        machine.requestsSent(2, at: third)
        guard case .forwarding(let inFlight) = machine.state else {
            Issue.record("still forwarding")
            return
        }
        #expect(inFlight.map(\.correlationID) == [8, 9, 10, 11])
        #expect(inFlight.map(\.sentAt) == [second, third, third, nil])
        machine.requestsSent(5, at: .uptimeNanoseconds(500))  // one left unsent: no request is stamped twice
        guard case .forwarding(let after) = machine.state else { return }
        #expect(after.map(\.sentAt) == [second, third, third, .uptimeNanoseconds(500)])
    }

    @Test func theUpstreamSideIsWelcomeOnlyWhileAwaitedAndItsLossIsReportedOnce() {
        var left = ConnectionStateMachine(maximumInFlight: 8)
        _ = left.closed()
        let welcomeAfterLeaving = left.upstreamConnected()
        #expect(!welcomeAfterLeaving, "the client left while the proxy was connecting")
        var machine = ConnectionStateMachine(maximumInFlight: 8)
        let (first, second) = (machine.upstreamConnected(), machine.upstreamConnected())
        #expect(first && !second, "welcome once")
        #expect(machine.upstreamClosed()?.code == .upstreamClosed)
        _ = machine.closed()
        #expect(machine.upstreamClosed() == nil, "already closed: nothing more to report")
    }

    @Test func theGateHoldsEverythingBehindAWaitingResponseAndOnlyTheNewestTicketReleases() {
        var gate = ResponseGate()
        guard case .write = gate.send(.init(bytes: self.bytes("a"), completing: nil), waitsForListeners: false) else {
            Issue.record("an open gate writes at once")
            return
        }
        guard case .holdUntilOpened(let first) = gate.send(.init(bytes: self.bytes("b"), completing: nil), waitsForListeners: true),
            case .hold = gate.send(.init(bytes: self.bytes("c"), completing: nil), waitsForListeners: false),
            case .holdUntilOpened(let second) = gate.send(.init(bytes: self.bytes("d"), completing: nil), waitsForListeners: true)
        else {
            Issue.record("a waiting response holds itself and what follows")
            return
        }
        #expect(!gate.isOpen)
        #expect(gate.opened(ticket: first) == nil, "a newer wait replaced the first")
        let released = gate.opened(ticket: second).map { $0.map { String(buffer: $0.bytes) } }
        #expect(released == ["b", "c", "d"])
        #expect(gate.isOpen)
        guard case .write = gate.send(.init(bytes: self.bytes("e"), completing: nil), waitsForListeners: false) else {
            Issue.record("open again")
            return
        }
    }

    @Test func aDrainOrALastResponseWithHeldResponsesClosesWhenTheyAreReleased() {
        var machine = ConnectionStateMachine(maximumInFlight: 8)
        machine.upstreamConnected()
        _ = machine.requestReceived(self.request(1), expectsResponse: true)
        guard case .holdUntilOpened(let ticket) = machine.responseReady(.init(bytes: self.bytes("x"), completing: nil), waitsForListeners: true)
        else {
            Issue.record("held for its listener")
            return
        }
        #expect(!machine.acceptsResponses(clientWritable: true), "no more responses are read while one is held")
        #expect(machine.drain() == .waitForResponses)
        guard case .forwardAndClose = machine.responseReceived(correlationID: 1) else {
            Issue.record("the last awaited response")
            return
        }
        #expect(machine.lastResponseSent() == .closeWithHeldResponses)
        guard case .write(let held, let thenClose) = machine.listenersOpened(ticket: ticket) else {
            Issue.record("the release writes")
            return
        }
        #expect(held.count == 1 && thenClose)

        var idle = ConnectionStateMachine(maximumInFlight: 8)
        idle.upstreamConnected()
        _ = idle.responseReady(.init(bytes: self.bytes("y"), completing: nil), waitsForListeners: true)
        #expect(idle.drain() == .closeWithHeldResponses, "idle, but a response still waits for its listener")
    }

    @Test func aRequestStreamForwardsMiddlePartsAndFinishesOnTheLast() {
        var stream = RequestStream()
        guard case .drop = stream.continued(self.bytes("stray"), last: false) else {
            Issue.record("parts of a refused request are dropped")
            return
        }
        stream.started(StreamedRequest(
            header: RequestHeaderPrefix(apiKey: .produce, apiVersion: 9, correlationID: 4), head: ByteBuffer(),
            expectsResponse: true, frameBytes: 10, assembly: .none))
        guard case .forward(let middle) = stream.continued(self.bytes("mid"), last: false),
            case .finish(let request, let last) = stream.continued(self.bytes("end"), last: true)
        else {
            Issue.record("middle, then last")
            return
        }
        #expect(String(buffer: middle) == "mid" && String(buffer: last) == "end")
        #expect(request.header.correlationID == 4)
        guard case .drop = stream.continued(self.bytes("after"), last: true) else {
            Issue.record("finished")
            return
        }
    }

    @Test func aResponseStreamKeepsWhatItRewritesAndPassesTheRest() {
        var stream = ResponseStream()
        guard case .fail(let error) = stream.continued(self.bytes("x"), last: false) else {
            Issue.record("bytes outside a frame fail")
            return
        }
        #expect(error.code == .malformedFrame)
        // Metadata names brokers: kept whole, its head not sent on.
        var head = ByteBuffer()
        head.writeMultipleIntegers(Int32(12), Int32(1))
        #expect(stream.started(head, remaining: 8, answering: self.request(1), closeWhenDone: false, recording: false) == nil)
        guard case .keep = stream.continued(self.bytes("1234"), last: false),
            case .deliverWhole(let whole, _) = stream.continued(self.bytes("5678"), last: true)
        else {
            Issue.record("kept, then delivered whole")
            return
        }
        #expect(whole.readableBytes == 16)
        // Fetch does not: passed part by part.
        #expect(stream.started(head, remaining: 8, answering: self.request(2, .fetch), closeWhenDone: true, recording: false) != nil)
        guard case .send = stream.continued(self.bytes("1234"), last: false),
            case .finish(_, let streamed) = stream.continued(self.bytes("5678"), last: true)
        else {
            Issue.record("passed on")
            return
        }
        #expect(streamed.closeWhenDone)
    }

    @Test func bareSaslTokensPassOutsideThePairing() throws {
        var observer = SaslObserver()
        observer.handshakeRequested(mechanism: "PLAIN", version: 0)
        #expect(observer.handshakeAnswered(errorCode: 0) == nil)
        #expect(observer.expectsLegacyTokens)
        let plain = Array("\u{0}alice\u{0}pwd".utf8)
        var token = ByteBuffer()
        token.writeInteger(Int32(plain.count))
        token.writeBytes(plain)
        guard case .forward(let forwarded) = observer.clientPartWhileExchangingTokens(.frame(token)) else {
            Issue.record("a bare token is forwarded")
            return
        }
        #expect(forwarded == token)
        guard case .fail(let error) = observer.clientPartWhileExchangingTokens(.head(token, remaining: 70_000)) else {
            Issue.record("a token too large to be whole fails")
            return
        }
        #expect(error.code == .malformedFrame)
        var answer = ByteBuffer()
        answer.writeInteger(Int32(0))
        let answered = observer.brokerAnswer(.frame(answer))
        let (passed, event) = try #require(answered)
        #expect(passed == answer)
        #expect(event == .authenticated(mechanism: "PLAIN", principal: "alice"))
        #expect(observer.brokerAnswer(.frame(answer)) == nil, "no token awaits an answer: a response")
    }
}
