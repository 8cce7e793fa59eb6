public import KafkaCodec
import NIOConcurrencyHelpers

/// Consumer-group lag read passively from traffic: committed offsets from OffsetCommit, TxnOffsetCommit and
/// OffsetFetch, log end offsets from Fetch, Produce and ListOffsets, and when records were appended from record
/// batch headers. Needs no credentials and no polling; it is as fresh as the traffic it sees.
///
/// One instance serves a proxy (all its connections, on every event loop) or one capture's report; both feed it
/// request/response pairs through `observe`, so both compute lag the same way.
public final class ConsumerLag: Sendable {
    private let state: NIOLockedValueBox<LagState>

    public init(settings: LagSettings = LagSettings()) {
        self.state = NIOLockedValueBox(LagState(settings: settings))
    }

    /// Whether `observe` reads exchanges of `api`; others need not be kept for it.
    public static func isRelevant(_ api: APIKey) -> Bool {
        LagState.isRelevant(api)
    }

    /// One request/response pair of `api`, whose response was read at `microseconds` since the epoch. `name`
    /// gives a topic's name, or a stand-in for a topic known only by id.
    public func observe(
        _ api: APIKey, request: LagRequest, response: MessageFacts, at microseconds: Int64,
        name: (TopicReference?) -> String
    ) {
        self.state.withLockedValue { $0.observe(api, request: request, response: response, at: microseconds, name: name) }
    }

    /// Applies what Produce answers said of the logs (see `ProducedLogs`), and empties `logs`.
    func apply(_ logs: inout ProducedLogs, name: (TopicReference?) -> String) {
        guard !logs.isEmpty else { return }
        self.state.withLockedValue { $0.apply(logs, name: name) }
        logs.removeAll()
    }

    /// The lag of every group as of `now` (microseconds since the epoch), or as of the newest observation.
    public func snapshot(now: Int64? = nil) -> LagSnapshot {
        self.state.withLockedValue { state in
            let now = now ?? state.latest
            state.forgetIdleGroups(now: now)
            return LagSnapshot(state, now: now)
        }
    }
}
