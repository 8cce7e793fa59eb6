public import KafkaCodec

/// What consumer lag reads of a request, kept from when the request is read until its answer is.
///
/// One reference at most: a Produce request keeps only its record entries, and the rarer group and offset requests
/// their facts, boxed. Fetch requests keep nothing: lag reads Fetch answers alone. (The proxy queues a Produce
/// request's entries bare, see `ConnectionLag`.) Queueing whole facts cost the proxy a tenth of a small request.
public struct LagRequest: Sendable {
    private enum Kept: Sendable {
        case nothing
        case records([RecordTraffic])
        case facts(Boxed)
    }

    private final class Boxed: Sendable {
        let facts: MessageFacts

        init(_ facts: MessageFacts) {
            self.facts = facts
        }
    }

    private let kept: Kept

    /// What lag will read of a request of `api` whose facts are `facts`.
    public init(_ api: APIKey, facts: borrowing MessageFacts) {
        if api == .produce {
            self.kept = .records(facts.records)
        } else {
            self.kept = Self.isKept(api) ? .facts(Boxed(copy facts)) : .nothing
        }
    }

    private init(_ kept: Kept) {
        self.kept = kept
    }

    /// Nothing of the request: one that could not be read, or a Fetch request. Lag reads their answers alone.
    public static var nothing: LagRequest { LagRequest(.nothing) }

    /// Whether lag reads anything of requests of `api`, so that they must be kept until their answers.
    static func isKept(_ api: APIKey) -> Bool {
        api != .fetch
    }

    /// A Produce request's record entries; empty for any other.
    var records: [RecordTraffic] {
        if case .records(let records) = self.kept { records } else { [] }
    }

    /// The facts of a request other than Produce and Fetch; nil for those, and for one that could not be read.
    var facts: MessageFacts? {
        if case .facts(let boxed) = self.kept { boxed.facts } else { nil }
    }
}
