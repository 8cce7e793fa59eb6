import CoreMetrics
import KafkaCodec

/// The counted events of the proxy's cold paths: errors, rewrites, clamps and listener trouble.
///
/// These happen per connection or per metadata exchange, not per request, so looking a counter up each time is
/// cheap enough; the per-request metrics keep their handles instead.
struct ProxyEvents: Sendable {
    func connectionError(side: String, _ error: ProxyError) {
        Counter(label: "kafkascope_connection_errors_total", dimensions: [("side", side), ("reason", error.code.description)])
            .increment()
    }

    func addressesRewritten(api: APIKey) {
        Counter(label: "kafkascope_address_rewrites_total", dimensions: [("api", api.name)]).increment()
    }

    func versionClamped(api: APIKey) {
        Counter(label: "kafkascope_api_versions_clamped_total", dimensions: [("api", api.name)]).increment()
    }

    func frameUndecoded(direction: String, reason: String) {
        Counter(label: "kafkascope_frames_undecoded_total", dimensions: [("direction", direction), ("reason", reason)])
            .increment()
    }

    func listenerError(reason: String) {
        Counter(label: "kafkascope_listener_errors_total", dimensions: [("reason", reason)]).increment()
    }
}
