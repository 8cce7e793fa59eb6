public import KafkaCodec
import NIOConcurrencyHelpers

/// Every client seen, with the API versions it used: the Kafka 4.0 readiness view, served as `GET /clients` by
/// the proxy and printed by `kafkascope pcap --format clients`.
///
/// Kafka 4.0 refuses versions below each API's lowest current version (KIP-896). A broker counts such requests
/// only after an upgrade, and without saying who sent them; here every client id is listed with its software, the
/// addresses it came from and each API version it used, the removed ones apart. Client ids are capped like the
/// `client_id` label: later ones share `__other__`, so nothing seen is left out.
public final class ClientDirectory: Sendable {
    /// One client id's record, kept by the connections that use it so that a request costs one uncontended lock.
    public final class Entry: Sendable {
        public let clientID: String
        private let record: NIOLockedValueBox<ClientRecord>

        init(clientID: String, at microseconds: Int64) {
            self.clientID = clientID
            self.record = NIOLockedValueBox(ClientRecord(firstSeen: microseconds, lastSeen: microseconds))
        }

        func note(_ header: RequestHeaderPrefix, software: ClientSoftware?, address: String?, principal: String?, at microseconds: Int64) {
            self.record.withLockedValue { $0.note(header, software: software, address: address, principal: principal, at: microseconds) }
        }

        var snapshot: ClientRecord { self.record.withLockedValue { $0 } }

        /// The software the client last named.
        var software: ClientSoftware? { self.record.withLockedValue { $0.software } }
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])
    private let limiter: LabelLimiter

    /// A directory of its own, for a capture's report.
    public convenience init(cap: Int = KafkascopeMetrics.defaultLabelCap) {
        self.init(limiter: LabelLimiter(cap: cap) {})
    }

    /// A directory that admits client ids as `limiter` admits them as labels.
    init(limiter: LabelLimiter) {
        self.limiter = limiter
    }

    /// The entry of `clientID`, or of `__other__` once the cap is reached.
    public func entry(for clientID: String, at microseconds: Int64) -> Entry {
        let admitted = self.limiter.admit(clientID)
        return self.entries.withLockedValue { entries in
            if let entry = entries[admitted] { return entry }
            let entry = Entry(clientID: admitted, at: microseconds)
            entries[admitted] = entry
            return entry
        }
    }

    /// The records, by client id.
    public var clients: [(clientID: String, record: ClientRecord)] {
        self.entries.withLockedValue { Array($0.values) }
            .map { ($0.clientID, $0.snapshot) }
            .sorted { $0.clientID < $1.clientID }
    }
}

/// The software a client names in ApiVersions v3+ (KIP-511).
public struct ClientSoftware: Hashable, Sendable {
    public var name: String
    public var version: String
}

/// What one client id was seen doing.
public struct ClientRecord: Sendable {
    /// The most recent addresses it came from, oldest first.
    public static let addressesKept = 4

    public var software: ClientSoftware?
    public var addresses: [String] = []
    public var principal: String?
    /// Microseconds since the epoch.
    public var firstSeen: Int64
    public var lastSeen: Int64
    /// Requests by API and version, bounded as the metric labels are (`WireLabels`).
    public var requests: [APIVersionKey: Int] { Dictionary(uniqueKeysWithValues: self.counts.lazy.map { ($0.key, $0.requests) }) }
    /// The same, in the order first seen: a client uses a dozen API versions or so, which a search finds sooner
    /// than a hash, and this is counted for every request.
    private var counts: [(key: APIVersionKey, requests: Int)] = []

    init(firstSeen: Int64, lastSeen: Int64) {
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }

    mutating func note(_ header: RequestHeaderPrefix, software: ClientSoftware?, address: String?, principal: String?, at microseconds: Int64) {
        let key = APIVersionKey(api: WireLabels.bounded(header.apiKey), version: WireLabels.bounded(header.apiVersion, of: header.apiKey))
        if let index = self.counts.firstIndex(where: { $0.key == key }) {
            self.counts[index].requests += 1
        } else {
            self.counts.append((key, 1))
        }
        if let software { self.software = software }
        if let principal { self.principal = principal }
        if let address, self.addresses.last != address {
            self.addresses.removeAll { $0 == address }
            self.addresses.append(address)
            if self.addresses.count > Self.addressesKept { self.addresses.removeFirst() }
        }
        // Captures may be merged out of order: keep the earliest and the latest.
        self.firstSeen = min(self.firstSeen, microseconds)
        self.lastSeen = max(self.lastSeen, microseconds)
    }

    /// The API versions used that Kafka 4.0 no longer accepts, with their request counts.
    public var removedInKafka4: [(key: APIVersionKey, requests: Int)] {
        self.counts.filter { $0.key.isRemovedInKafka4 }.sorted { $0.key < $1.key }
    }
}

/// An API and a version within the codec's schemas; -1 stands for an unknown key or a version beyond them.
public struct APIVersionKey: Hashable, Comparable, Sendable {
    public var api: APIKey
    public var version: Int16

    /// Known, decoded, and below what Kafka 4.0 still accepts.
    public var isRemovedInKafka4: Bool {
        APIDescriptor.lookup(self.api)?.isRemovedInKafka4(self.version) ?? false
    }

    public var apiName: String { WireLabels.api(self.api) }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.api.rawValue, lhs.version) < (rhs.api.rawValue, rhs.version)
    }
}
