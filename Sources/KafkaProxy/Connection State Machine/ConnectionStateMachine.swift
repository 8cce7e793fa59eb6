import KafkaCodec
import NIOCore

/// The life of one proxied connection pair, without I/O: the handler feeds it events and does what the
/// returned action says.
///
/// Kafka answers requests on a connection in the order they were sent (protocol guide, "Network"), so a FIFO of
/// in-flight requests is enough to pair every response with its request.
struct ConnectionStateMachine {
    enum State: Equatable {
        /// Waiting for the upstream connection; nothing is read from the client yet.
        case connecting
        case forwarding
        /// Shutting down: no new requests are read; responses still flow until none are in flight.
        case draining
        case closed
    }

    enum RequestAction: Equatable {
        case forward
        case ignore
    }

    enum ResponseAction: Equatable {
        case forward(InFlightRequest)
        /// Forward, then close: the last response a draining connection was waiting for.
        case forwardAndClose(InFlightRequest)
        case close(ProxyError)
    }

    enum DrainAction: Equatable {
        case closeNow
        case waitForResponses
    }

    private(set) var state: State = .connecting
    private var inFlight = CircularBuffer<InFlightRequest>(initialCapacity: 16)
    let maximumInFlight: Int

    init(maximumInFlight: Int) {
        self.maximumInFlight = maximumInFlight
    }

    var inFlightCount: Int { self.inFlight.count }

    /// Whether the handler may read more requests from the client.
    var acceptsRequests: Bool { self.state == .forwarding && self.inFlight.count < self.maximumInFlight }

    mutating func upstreamConnected() {
        if self.state == .connecting { self.state = .forwarding }
    }

    /// A request was read from the client. `expectsResponse` is false for Produce with `acks = 0`.
    mutating func requestReceived(_ request: InFlightRequest, expectsResponse: Bool) -> RequestAction {
        switch self.state {
        case .forwarding, .draining:
            if expectsResponse { self.inFlight.append(request) }
            return .forward
        case .connecting, .closed:
            return .ignore
        }
    }

    /// Notes something learnt about a request still in flight, such as when its last byte went upstream. The
    /// newest request with that id is the one meant, so the search starts at the back, where it nearly always is.
    mutating func updateRequest(correlationID: Int32, _ update: (inout InFlightRequest) -> Void) {
        var index = self.inFlight.endIndex
        while index != self.inFlight.startIndex {
            index = self.inFlight.index(before: index)
            if self.inFlight[index].correlationID == correlationID {
                update(&self.inFlight[index])
                return
            }
        }
    }

    /// A response was read from the broker.
    mutating func responseReceived(correlationID: Int32) -> ResponseAction {
        switch self.state {
        case .connecting, .closed:
            return .close(ProxyError(.unsolicitedResponse, "response \(correlationID) on a connection that is not forwarding"))
        case .forwarding, .draining:
            guard let head = self.inFlight.popFirst() else {
                self.state = .closed
                return .close(ProxyError(.unsolicitedResponse, "response \(correlationID) with no request in flight"))
            }
            guard head.correlationID == correlationID else {
                self.state = .closed
                return .close(ProxyError(
                    .unexpectedCorrelationID,
                    "response \(correlationID) while \(head.apiKey.name) request \(head.correlationID) was next"))
            }
            if self.state == .draining && self.inFlight.isEmpty {
                self.state = .closed
                return .forwardAndClose(head)
            }
            return .forward(head)
        }
    }

    mutating func drain() -> DrainAction {
        switch self.state {
        case .connecting, .closed:
            self.state = .closed
            return .closeNow
        case .forwarding, .draining:
            if self.inFlight.isEmpty {
                self.state = .closed
                return .closeNow
            }
            self.state = .draining
            return .waitForResponses
        }
    }

    /// Either side closed; returns the requests that will never get a response.
    mutating func closed() -> [InFlightRequest] {
        self.state = .closed
        defer { self.inFlight.removeAll() }
        return Array(self.inFlight)
    }
}
