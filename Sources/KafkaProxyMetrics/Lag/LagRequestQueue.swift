import KafkaCodec
import NIOCore

/// One connection's requests whose answers consumer lag reads, oldest first, each with what lag reads of it.
///
/// A struct, so that the recorder changes it in one access per call: as the recorder's own `CircularBuffer`, each
/// request took three of the runtime's exclusivity checks.
struct LagRequestQueue {
    /// Starts at a capacity of one: every connection has a queue, most never hold more than a few requests.
    private var requests = CircularBuffer<(api: APIKey, request: LagRequest)>(initialCapacity: 1)
    /// A broker that never answers must not make the queue grow without end.
    private static let limit = 4096

    mutating func keep(_ request: LagRequest, of api: APIKey) {
        if self.requests.count >= Self.limit { self.requests.removeFirst(self.requests.count / 2) }
        self.requests.append((api, request))
    }

    /// The oldest kept request of `api`: the one its answer belongs to.
    mutating func take(_ api: APIKey) -> LagRequest? {
        // Answers come in request order, so the oldest kept request is nearly always the one.
        guard let oldest = self.requests.popFirst() else { return nil }
        if oldest.api == api { return oldest.request }
        self.requests.prepend(oldest)
        guard let index = self.requests.firstIndex(where: { $0.api == api }) else { return nil }
        return self.requests.remove(at: index).request
    }
}
