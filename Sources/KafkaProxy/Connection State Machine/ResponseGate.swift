import NIOCore

/// Keeps responses in order behind one that names broker listeners still opening (`BrokerDirectory.record`):
/// a client must not learn an address before the proxy listens on it, nor get later responses before that one.
///
/// A value with no I/O: the handler writes what it returns and tells it when the listeners it waited for are open.
struct ResponseGate {
    /// A response, or a part of one, on its way to the client. `completing` is the request whose response the part
    /// ends, to time the exchange once the part is written.
    struct Response {
        var bytes: ByteBuffer
        var completing: InFlightRequest?
    }

    enum SendAction {
        case write(Response)
        /// Held behind a response that waits; nothing to do now.
        case hold
        /// Held: release it when the listeners opening now are open, with `opened(ticket:)`.
        case holdUntilOpened(ticket: Int)
    }

    /// Nearly always empty: a capacity of one until a response is held, since every connection has a gate.
    private var held = CircularBuffer<Response>(initialCapacity: 1)
    /// The newest ticket: each waits for every listener still opening, so only the newest releases anything.
    private var ticket = 0
    private(set) var isOpen = true

    /// A response to send; `waitsForListeners` when it names brokers whose listeners are still opening.
    mutating func send(_ response: Response, waitsForListeners: Bool) -> SendAction {
        if waitsForListeners {
            self.ticket += 1
            self.isOpen = false
            self.held.append(response)
            return .holdUntilOpened(ticket: self.ticket)
        }
        guard self.isOpen else {
            self.held.append(response)
            return .hold
        }
        return .write(response)
    }

    /// The listeners `ticket` waited for are open: the held responses to write, in order; nil for a ticket that a
    /// newer one replaced.
    mutating func opened(ticket: Int) -> CircularBuffer<Response>? {
        guard ticket == self.ticket else { return nil }
        self.isOpen = true
        defer { self.held.removeAll() }
        return self.held
    }
}
