import Prometheus

/// Every metric family Kafkascope exports, with its help text in one place: the registry refuses a second
/// registration of a name with different help.
enum MetricFamily: String {
    case requests = "kafkascope_requests_total"
    case requestDuration = "kafkascope_request_duration_seconds"
    case brokerDuration = "kafkascope_broker_duration_seconds"
    case requestBytes = "kafkascope_request_bytes_total"
    case responseBytes = "kafkascope_response_bytes_total"
    case errors = "kafkascope_errors_total"
    case inflight = "kafkascope_inflight_requests"
    case connectionsActive = "kafkascope_connections_active"
    case connections = "kafkascope_connections_total"
    case connectionErrors = "kafkascope_connection_errors_total"
    case requestsUnanswered = "kafkascope_requests_unanswered_total"
    case framesUndecoded = "kafkascope_frames_undecoded_total"
    case versionsClamped = "kafkascope_api_versions_clamped_total"
    case addressRewrites = "kafkascope_address_rewrites_total"
    case producedRecords = "kafkascope_produced_records_total"
    case producedBytes = "kafkascope_produced_bytes_total"
    case fetchedRecords = "kafkascope_fetched_records_total"
    case fetchedBytes = "kafkascope_fetched_bytes_total"
    case throttle = "kafkascope_throttle_seconds"
    case clients = "kafkascope_clients"
    case buildInfo = "kafkascope_build_info"
    case listenerErrors = "kafkascope_listener_errors_total"
    case startTime = "kafkascope_start_time_seconds"
    case readsPaused = "kafkascope_reads_paused_total"
    case readsPausedSeconds = "kafkascope_reads_paused_seconds_total"
    case labelValuesFolded = "kafkascope_label_values_folded_total"
    case saslAuthentications = "kafkascope_sasl_authentications_total"
    case principalRequests = "kafkascope_principal_requests_total"
    case tlsReloads = "kafkascope_tls_reloads_total"
    case invalidValues = "kafkascope_invalid_values_total"
    case removedVersionRequests = "kafkascope_removed_version_requests_total"
    // Consumer lag, rendered at scrape time from a `LagSnapshot` rather than kept in the registry.
    case consumerGroupLag = "kafkascope_consumergroup_lag"
    case consumerGroupLagSum = "kafkascope_consumergroup_lag_sum"
    case consumerGroupLagSeconds = "kafkascope_consumergroup_lag_seconds"
    case consumerGroupCurrentOffset = "kafkascope_consumergroup_current_offset"
    case topicPartitionCurrentOffset = "kafkascope_topic_partition_current_offset"
    case consumerGroupMembers = "kafkascope_consumergroup_members"
    case consumerGroupLagObserved = "kafkascope_consumergroup_lag_observed_timestamp_seconds"
    case lagEvictions = "kafkascope_lag_evictions_total"

    var help: String {
        switch self {
        case .requests: "Requests read from clients, by API, API version and upstream broker."
        case .requestDuration: "Client-side latency: request fully read from the client to response fully written back."
        case .brokerDuration: "Broker-side latency: request written upstream to response fully read."
        case .requestBytes: "Request frame bytes read from clients, size prefix included."
        case .responseBytes: "Response frame bytes written to clients, size prefix included."
        case .errors: "Non-zero error codes in responses: top-level and every per-topic, partition or resource code."
        case .inflight: "Requests forwarded upstream and not yet answered."
        case .connectionsActive: "Open connections, by side (client or broker)."
        case .connections: "Connections opened, by side (client or broker)."
        case .connectionErrors: "Connections closed because of an error, by side and reason."
        case .requestsUnanswered: "Requests still awaiting their response when the connection closed, by API and why it closed."
        case .framesUndecoded: "Frames forwarded that the codec could not decode, by direction and reason."
        case .versionsClamped: "API version ranges narrowed in ApiVersions responses to what the codec decodes."
        case .addressRewrites: "Responses whose broker addresses were rewritten to point at the proxy."
        case .producedRecords: "Records in produced batches, from batch headers."
        case .producedBytes: "Bytes of produced record batches."
        case .fetchedRecords: "Records in fetched batches, from batch headers."
        case .fetchedBytes: "Bytes of fetched record batches."
        case .throttle: "Throttle time the broker reported in responses."
        case .clients: "Connected clients by client id and the software they reported in ApiVersions v3+."
        case .buildInfo: "Kafkascope's version; always 1."
        case .startTime: "When this proxy process started, in seconds since the epoch: changes() counts restarts."
        case .readsPaused:
            "Times a side's reads paused for back-pressure, by side paused and why: the other side not taking more, or the in-flight cap."
        case .readsPausedSeconds: "Seconds a side's reads spent paused for back-pressure, by side paused."
        case .listenerErrors: "Listeners that could not be opened, and client connections a listener could not accept."
        case .labelValuesFolded: "Label values folded into __other__ because their label reached its cap."
        case .saslAuthentications: "SASL authentications seen passing through, by mechanism and outcome (success or failure)."
        case .principalRequests: "Requests read from clients, by the principal their connection authenticated as."
        case .tlsReloads: "Reloads of served TLS certificates (client listeners, metrics endpoint), by outcome."
        case .removedVersionRequests:
            "Requests at API versions Kafka 4.0 no longer accepts (KIP-896), by API, version and client id; see /clients."
        case .consumerGroupLag:
            "Records a consumer group has yet to commit: log end offset minus committed offset, from observed traffic."
        case .consumerGroupLagSum:
            "Consumer group lag summed over a topic's partitions."
        case .consumerGroupLagSeconds:
            "How long ago the first record the group has not committed was appended (record batch timestamps)."
        case .consumerGroupCurrentOffset:
            "The consumer group's committed offset, as the last successful commit or OffsetFetch said."
        case .topicPartitionCurrentOffset:
            "A partition's log end offset: the highest of Fetch high watermarks, Produce results and ListOffsets latest."
        case .consumerGroupMembers:
            "Members of the consumer group heard from within the member timeout (JoinGroup, SyncGroup, Heartbeat, ConsumerGroupHeartbeat)."
        case .consumerGroupLagObserved:
            "When the traffic the group's lag on the topic rests on was last seen; older values may be stale."
        case .lagEvictions:
            "Entries dropped from the bounded lag tables (groups, partitions, samples)."
        case .invalidValues:
            "Values in frames that cannot be true (negative record counts, impossible lengths...), left out of the other metrics; the frames were forwarded as is."
        }
    }

    var descriptor: MetricNameDescriptor {
        MetricNameDescriptor(metricName: self.rawValue, unitName: "", helpText: self.help)
    }
}

/// Histogram buckets, dense where Kafka requests usually complete.
enum MetricBuckets {
    /// 100 µs to 30 s; ten buckets below 10 ms, where healthy produce and metadata requests land.
    static let latency: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .microseconds(750), .milliseconds(1),
        .milliseconds(2), .milliseconds(3), .milliseconds(5), .milliseconds(7), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2_500), .seconds(5), .seconds(10), .seconds(30),
    ]

    /// Seconds of throttling; 0 separates throttled responses from the rest.
    static let throttle: [Double] = [0, 0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60]
}
