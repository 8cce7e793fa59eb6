import KafkaCodec
import NIOCore

/// What consumer lag keeps of one connection between its frames: the requests whose answers it reads, oldest first,
/// and what the Produce answers said of the logs until they are applied.
///
/// A struct in one property, so that the recorder reaches it in one access per frame: every access to a class's
/// stored property costs one of the runtime's exclusivity checks, and a small request paid several.
struct ConnectionLag {
    /// Each Produce request's record entries: nearly every kept request is a Produce request, and this keeps one
    /// reference for it. Starts at a capacity of one, as every connection has these and most hold a few requests.
    private var produceRequests = CircularBuffer<[RecordTraffic]>(initialCapacity: 1)
    /// The rarer group and offset requests, each with what lag reads of it.
    private var otherRequests = CircularBuffer<(api: APIKey, request: LagRequest)>(initialCapacity: 1)
    /// What the Produce answers read since they were last applied (`ConsumerLag.apply`) said of the logs.
    var logs = ProducedLogs()
    /// A broker that never answers must not make the queues grow without end.
    static let limit = 4096

    /// A request of `api`, which lag keeps (`LagRequest.isKept`), read with `facts`.
    mutating func requested(_ api: APIKey, facts: MessageFacts) {
        if api == .produce {
            Self.append(facts.records, to: &self.produceRequests)
        } else {
            Self.append((api, LagRequest(api, facts: facts)), to: &self.otherRequests)
        }
    }

    /// A request of `api` that lag keeps but could not be read: kept all the same, so that its answer pairs with it
    /// rather than with a later request.
    mutating func requestedUnread(_ api: APIKey) {
        if api == .produce {
            Self.append([], to: &self.produceRequests)
        } else {
            Self.append((api, .nothing), to: &self.otherRequests)
        }
    }

    /// An answer of `api`, read at `time`. A Produce answer is folded into `logs`; for any other, what lag reads of
    /// its request: nothing for Fetch, whose answers alone say something, and nil when no request of `api` was kept.
    /// (Two functions rather than an optional answer: making an optional of the facts would copy them.)
    mutating func answered(_ api: APIKey, response: MessageFacts, at time: Int64) -> LagRequest? {
        if api == .produce {
            // Answers come in request order, so the oldest is the one this answers.
            if let records = self.produceRequests.popFirst() { self.logs.note(records, response: response, at: time) }
            return nil
        }
        return self.request(answeredBy: api)
    }

    /// An answer of `api` that could not be read: it still takes its request.
    mutating func answeredUnread(_ api: APIKey) {
        if api == .produce {
            _ = self.produceRequests.popFirst()
        } else {
            _ = self.request(answeredBy: api)
        }
    }

    private mutating func request(answeredBy api: APIKey) -> LagRequest? {
        guard LagRequest.isKept(api) else { return .nothing }
        guard let index = self.otherRequests.firstIndex(where: { $0.api == api }) else { return nil }
        return self.otherRequests.remove(at: index).request
    }

    private static func append<Element>(_ element: Element, to requests: inout CircularBuffer<Element>) {
        if requests.count >= Self.limit { requests.removeFirst(requests.count / 2) }
        requests.append(element)
    }
}
