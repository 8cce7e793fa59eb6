import KafkaCodec
import NIOCore
import Testing

@testable import KafkaProxy

@Suite struct ConnectionStateMachineTests {
    func request(_ id: Int32, _ key: APIKey = .metadata) -> InFlightRequest {
        InFlightRequest(apiKey: key, apiVersion: 12, correlationID: id, receivedAt: .now())
    }

    @Test func responsesPairWithRequestsInOrder() {
        var machine = ConnectionStateMachine(maximumInFlight: 8)
        #expect(!machine.acceptsRequests, "nothing is read before the upstream connection exists")
        #expect(machine.requestReceived(self.request(1), expectsResponse: true) == .ignore)
        machine.upstreamConnected()
        #expect(machine.requestReceived(self.request(1), expectsResponse: true) == .forward)
        #expect(machine.requestReceived(self.request(2, .fetch), expectsResponse: true) == .forward)
        guard case .forward(let first) = machine.responseReceived(correlationID: 1) else {
            Issue.record("first response should be forwarded")
            return
        }
        #expect(first.apiKey == .metadata)
        guard case .forward(let second) = machine.responseReceived(correlationID: 2) else {
            Issue.record("second response should be forwarded")
            return
        }
        #expect(second.apiKey == .fetch)
        #expect(machine.inFlightCount == 0)
    }

    @Test func produceWithAcksZeroIsNotAwaited() {
        var machine = ConnectionStateMachine(maximumInFlight: 8)
        machine.upstreamConnected()
        #expect(machine.requestReceived(self.request(1, .produce), expectsResponse: false) == .forward)
        #expect(machine.requestReceived(self.request(2), expectsResponse: true) == .forward)
        #expect(machine.inFlightCount == 1)
        guard case .forward(let answered) = machine.responseReceived(correlationID: 2) else {
            Issue.record("the metadata response should pair with the metadata request")
            return
        }
        #expect(answered.correlationID == 2)
    }

    @Test func aCorrelationMismatchClosesTheConnection() {
        var machine = ConnectionStateMachine(maximumInFlight: 8)
        machine.upstreamConnected()
        _ = machine.requestReceived(self.request(7), expectsResponse: true)
        guard case .close(let error) = machine.responseReceived(correlationID: 8) else {
            Issue.record("a mismatch must close")
            return
        }
        #expect(error.code == .unexpectedCorrelationID)
        #expect(machine.state == .closed)
        #expect(machine.requestReceived(self.request(9), expectsResponse: true) == .ignore)
    }

    @Test func aResponseWithNothingInFlightClosesTheConnection() {
        var machine = ConnectionStateMachine(maximumInFlight: 8)
        machine.upstreamConnected()
        guard case .close(let error) = machine.responseReceived(correlationID: 1) else {
            Issue.record("an unsolicited response must close")
            return
        }
        #expect(error.code == .unsolicitedResponse)
    }

    @Test func theInFlightCapStopsReading() {
        var machine = ConnectionStateMachine(maximumInFlight: 2)
        machine.upstreamConnected()
        _ = machine.requestReceived(self.request(1), expectsResponse: true)
        #expect(machine.acceptsRequests)
        _ = machine.requestReceived(self.request(2), expectsResponse: true)
        #expect(!machine.acceptsRequests)
        _ = machine.responseReceived(correlationID: 1)
        #expect(machine.acceptsRequests)
    }

    @Test func drainingWaitsForInFlightResponsesThenCloses() {
        var machine = ConnectionStateMachine(maximumInFlight: 8)
        machine.upstreamConnected()
        _ = machine.requestReceived(self.request(1), expectsResponse: true)
        _ = machine.requestReceived(self.request(2), expectsResponse: true)
        #expect(machine.drain() == .waitForResponses)
        #expect(!machine.acceptsRequests, "a draining connection reads no new requests")
        guard case .forward = machine.responseReceived(correlationID: 1) else {
            Issue.record("still forwarding while draining")
            return
        }
        guard case .forwardAndClose(let last) = machine.responseReceived(correlationID: 2) else {
            Issue.record("the last response closes a draining connection")
            return
        }
        #expect(last.correlationID == 2)
        #expect(machine.state == .closed)
    }

    @Test func drainingAnIdleConnectionClosesAtOnce() {
        var machine = ConnectionStateMachine(maximumInFlight: 8)
        machine.upstreamConnected()
        #expect(machine.drain() == .closeNow)
    }

    @Test func closingReportsTheUnansweredRequests() {
        var machine = ConnectionStateMachine(maximumInFlight: 8)
        machine.upstreamConnected()
        _ = machine.requestReceived(self.request(1), expectsResponse: true)
        _ = machine.requestReceived(self.request(2), expectsResponse: true)
        #expect(machine.closed().map(\.correlationID) == [1, 2])
        #expect(machine.inFlightCount == 0)
    }
}
