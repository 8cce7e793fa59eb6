import KafkaCodec
import NIOCore

/// A request the packet side waits to see answered: what pairing, resynchronization and latency need of it.
struct PendingRequest {
    var header: RequestHeaderPrefix
    /// Microseconds since the epoch, of the packet that completed the frame.
    var timestamp: Int64
    var packet: Int
    /// Where the exchange side keeps this request's reading (`ConnectionExchanges`).
    var slot: Int32
}

/// A connection's requests waiting for their responses, oldest first.
///
/// A broker answers a connection's requests in order, so the response to come is nearly always for the oldest:
/// searching from the front finds it at once, where a hash table would hash every correlation id twice.
struct PendingRequests {
    private var requests = CircularBuffer<PendingRequest>()
    /// At least the largest correlation id pending: clients count ids up, so a new request above it cannot
    /// repeat one, and many requests in flight (librdkafka pipelines thousands) are not searched for each new one.
    private var ceiling = Int32.min

    var count: Int { self.requests.count }

    /// Adds a request and returns the slot it takes: from `claimSlot`, unless a request with the same correlation
    /// id is still pending, whose place and slot it then takes, as its response will.
    mutating func add(
        _ header: RequestHeaderPrefix, timestamp: Int64, packet: Int, claimSlot: () -> Int32
    ) -> Int32 {
        let id = header.correlationID
        let repeated = id > self.ceiling ? nil : self.index(of: id)
        let slot = repeated.map { self.requests.remove(at: $0).slot } ?? claimSlot()
        self.requests.append(PendingRequest(header: header, timestamp: timestamp, packet: packet, slot: slot))
        self.ceiling = max(self.ceiling, id)
        return slot
    }

    func find(_ correlationID: Int32) -> PendingRequest? {
        self.index(of: correlationID).map { self.requests[$0] }
    }

    /// The request a response with `correlationID` answers, no longer pending.
    mutating func remove(_ correlationID: Int32) -> PendingRequest? {
        guard let index = self.index(of: correlationID) else { return nil }
        return self.remove(at: index)
    }

    /// The request that has waited longest (captured first), no longer pending.
    mutating func removeOldest() -> PendingRequest? {
        guard let index = self.requests.indices.min(by: { self.requests[$0].packet < self.requests[$1].packet }) else { return nil }
        return self.remove(at: index)
    }

    /// Every pending request, captured first first, none pending after.
    mutating func removeAll() -> [PendingRequest] {
        let all = self.requests.sorted { $0.packet < $1.packet }
        self.requests.removeAll()
        self.ceiling = .min
        return all
    }

    private mutating func remove(at index: CircularBuffer<PendingRequest>.Index) -> PendingRequest {
        let request = index == self.requests.startIndex ? self.requests.removeFirst() : self.requests.remove(at: index)
        if self.requests.isEmpty { self.ceiling = .min }
        return request
    }

    private func index(of correlationID: Int32) -> CircularBuffer<PendingRequest>.Index? {
        self.requests.firstIndex { $0.header.correlationID == correlationID }
    }
}
