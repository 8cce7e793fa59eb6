import KafkaCodec
import KafkaProxyMetrics
import NIOCore

/// The life of one proxied connection pair, without I/O: the handler feeds it events and carries out the actions
/// it returns, when to read included. Responses pass its `ResponseGate`, and large frames its stream machines.
///
/// Kafka answers requests on a connection in the order they were sent (protocol guide, "Network"), so a FIFO of
/// in-flight requests is enough to pair every response with its request.
struct ConnectionStateMachine {
    enum State: Equatable {
        /// Waiting for the upstream connection; nothing is read from the client yet.
        case connecting
        /// Requests flow; `inFlight` holds those awaiting their response, oldest first.
        case forwarding(inFlight: CircularBuffer<InFlightRequest>)
        /// Shutting down: no new requests are read; responses still flow until none are in flight.
        case draining(inFlight: CircularBuffer<InFlightRequest>)
        case closed
    }

    enum ReadAction: Equatable {
        case read
        /// Not now: the read is remembered and returned by `readMayResume` once requests can be taken.
        case wait
        /// Not now, and the client's reads pause for back-pressure (`reason`) while requests flow: the read is
        /// remembered as for `wait`. Only the first refusal of a pause says so, so that each pause counts once.
        case pause(ReadPause)
    }

    enum RequestAction: Equatable {
        case forward
        case ignore
    }

    enum ResponseAction: Equatable {
        case forward(InFlightRequest)
        /// Forward, then close (`lastResponseSent`): the last response a draining connection was waiting for.
        case forwardAndClose(InFlightRequest)
        case close(ProxyError)
    }

    /// What ends a connection that has nothing more to wait for.
    enum CloseAction: Equatable {
        /// Close once what was written has gone out: the answers a draining client waits for.
        case closeAfterWrites
        /// Responses are held for a listener; releasing them (`listenersOpened`) closes.
        case closeWithHeldResponses
    }

    enum DrainAction: Equatable {
        case closeNow
        case waitForResponses
        case closeWithHeldResponses
    }

    enum ReleaseAction {
        /// A newer wait replaced this one.
        case none
        /// Write these in order; then close if the connection's work is over.
        case write(CircularBuffer<ResponseGate.Response>, thenClose: Bool)
    }

    private(set) var state: State = .connecting
    /// How many of the oldest requests in flight have gone upstream whole (`requestsSent`): writes complete in the
    /// order they were made, so the next one to complete is the request after these.
    private var sentCount = 0
    /// A read the channel asked for while no request could be taken.
    private var readPending = false
    private var gate = ResponseGate()
    let maximumInFlight: Int

    init(maximumInFlight: Int) {
        self.maximumInFlight = maximumInFlight
    }

    var inFlightCount: Int {
        switch self.state {
        case .forwarding(let inFlight), .draining(let inFlight): inFlight.count
        case .connecting, .closed: 0
        }
    }

    /// Whether the handler may read more requests from the client.
    var acceptsRequests: Bool {
        if case .forwarding(let inFlight) = self.state { return inFlight.count < self.maximumInFlight }
        return false
    }

    /// Whether the broker side may read more responses: the client can take them and none are held.
    func acceptsResponses(clientWritable: Bool) -> Bool {
        clientWritable && self.gate.isOpen
    }

    // MARK: Reading

    /// The channel asks to read from the client.
    mutating func readRequested(upstreamWritable: Bool) -> ReadAction {
        if self.acceptsRequests && upstreamWritable { return .read }
        defer { self.readPending = true }
        guard !self.readPending, case .forwarding(let inFlight) = self.state else { return .wait }
        return .pause(inFlight.count >= self.maximumInFlight ? .inFlightCap : .brokerNotWritable)
    }

    /// Something changed that may let a waiting read go on: a response, upstream writability, the connection.
    mutating func readMayResume(upstreamWritable: Bool) -> ReadAction {
        guard self.readPending, self.acceptsRequests, upstreamWritable else { return .wait }
        self.readPending = false
        return .read
    }

    // MARK: Requests and responses

    /// The upstream connection is up; false when the connection was not waiting for it (the client left), and the
    /// new connection is to be closed.
    @discardableResult
    mutating func upstreamConnected() -> Bool {
        guard case .connecting = self.state else { return false }
        self.state = .forwarding(inFlight: CircularBuffer(initialCapacity: 4))  // grows as a client pipelines
        return true
    }

    /// The broker closed its side: an error to fail the connection with (`closed()` then gives what it leaves
    /// unanswered), unless the connection was closing anyway.
    func upstreamClosed() -> ProxyError? {
        if case .closed = self.state { return nil }
        return ProxyError(.upstreamClosed, "the broker closed the connection")
    }

    /// A request was read from the client. `expectsResponse` is false for Produce with `acks = 0`.
    mutating func requestReceived(_ request: InFlightRequest, expectsResponse: Bool) -> RequestAction {
        switch self.state {
        case .forwarding(var inFlight):
            if expectsResponse {
                self.state = .closed  // while `inFlight` is changed, so that it is not copied
                inFlight.append(request)
            }
            self.state = .forwarding(inFlight: inFlight)
            return .forward
        case .draining(var inFlight):
            if expectsResponse {
                self.state = .closed
                inFlight.append(request)
            }
            self.state = .draining(inFlight: inFlight)
            return .forward
        case .connecting, .closed:
            return .ignore
        }
    }

    /// Notes something learnt about a request still in flight, such as when its last byte went upstream. The
    /// newest request with that id is the one meant, so the search starts at the back, where it nearly always is.
    mutating func updateRequest(correlationID: Int32, _ update: (inout InFlightRequest) -> Void) {
        self.modifyInFlight { inFlight in
            var index = inFlight.endIndex
            while index != inFlight.startIndex {
                index = inFlight.index(before: index)
                if inFlight[index].correlationID == correlationID {
                    update(&inFlight[index])
                    return
                }
            }
        }
    }

    /// The oldest `count` requests not yet sent have gone upstream whole, at `time`. Found by count, not by a search
    /// for their correlation ids: with a deep pipeline that search was a measurable share of the proxy's time.
    mutating func requestsSent(_ count: Int, at time: NIODeadline) {
        let first = self.sentCount
        var marked = 0
        self.modifyInFlight { inFlight in
            var index = inFlight.index(inFlight.startIndex, offsetBy: min(first, inFlight.count))
            while marked < count, index != inFlight.endIndex {
                inFlight[index].sentAt = time
                marked += 1
                index = inFlight.index(after: index)
            }
        }
        self.sentCount += marked
    }

    /// A response was read from the broker.
    mutating func responseReceived(correlationID: Int32) -> ResponseAction {
        let draining: Bool
        var inFlight: CircularBuffer<InFlightRequest>
        switch self.state {
        case .connecting, .closed:
            return .close(ProxyError(.unsolicitedResponse, "response \(correlationID) on a connection that is not forwarding"))
        case .forwarding(let requests):
            (draining, inFlight) = (false, requests)
        case .draining(let requests):
            (draining, inFlight) = (true, requests)
        }
        self.state = .closed  // every path below leaves it closed or puts the queue back
        if self.sentCount > 0 { self.sentCount -= 1 }
        guard let head = inFlight.popFirst() else {
            return .close(ProxyError(.unsolicitedResponse, "response \(correlationID) with no request in flight"))
        }
        guard head.correlationID == correlationID else {
            return .close(ProxyError(
                .unexpectedCorrelationID, "response \(correlationID) while \(head.apiKey.name) request \(head.correlationID) was next"))
        }
        if draining && inFlight.isEmpty { return .forwardAndClose(head) }
        self.state = draining ? .draining(inFlight: inFlight) : .forwarding(inFlight: inFlight)
        return .forward(head)
    }

    // MARK: Responses to the client

    /// A response (or part) is ready for the client; `waitsForListeners` when it names listeners still opening.
    mutating func responseReady(_ response: ResponseGate.Response, waitsForListeners: Bool) -> ResponseGate.SendAction {
        self.gate.send(response, waitsForListeners: waitsForListeners)
    }

    /// The listeners a held response waited for are open.
    mutating func listenersOpened(ticket: Int) -> ReleaseAction {
        guard let held = self.gate.opened(ticket: ticket) else { return .none }
        return .write(held, thenClose: self.state == .closed)
    }

    /// The response of a `.forwardAndClose` has been handed on.
    func lastResponseSent() -> CloseAction {
        self.gate.isOpen ? .closeAfterWrites : .closeWithHeldResponses
    }

    // MARK: Ending

    mutating func drain() -> DrainAction {
        switch self.state {
        case .forwarding(let inFlight) where !inFlight.isEmpty:
            self.state = .draining(inFlight: inFlight)
            return .waitForResponses
        case .draining(let inFlight) where !inFlight.isEmpty:
            return .waitForResponses
        case .connecting, .forwarding, .draining, .closed:
            self.state = .closed
            return self.gate.isOpen ? .closeNow : .closeWithHeldResponses
        }
    }

    /// Either side closed; returns the requests that will never get a response.
    mutating func closed() -> [InFlightRequest] {
        defer { self.state = .closed }
        switch self.state {
        case .forwarding(let inFlight), .draining(let inFlight): return Array(inFlight)
        case .connecting, .closed: return []
        }
    }

    private mutating func modifyInFlight(_ change: (inout CircularBuffer<InFlightRequest>) -> Void) {
        switch self.state {
        case .forwarding(var inFlight):
            self.state = .closed
            change(&inFlight)
            self.state = .forwarding(inFlight: inFlight)
        case .draining(var inFlight):
            self.state = .closed
            change(&inFlight)
            self.state = .draining(inFlight: inFlight)
        case .connecting, .closed:
            break
        }
    }
}
