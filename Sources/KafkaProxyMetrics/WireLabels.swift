import KafkaCodec

/// Label values taken from the wire, bounded: every series costs memory for the life of the process, so a label
/// may carry a number from a frame only where the codec's schemas bound it. A client sending every key and
/// version must not create four billion series.
enum WireLabels {
    static let unknownAPI = "unknown"
    static let unsupportedVersion = "unsupported"
    static let unknownError = "UNKNOWN_CODE"

    /// The values that give each label value, one per series: what per-connection caches of handles are keyed
    /// by, so that they stay as bounded as the series.
    static func bounded(_ key: APIKey) -> APIKey {
        APIDescriptor.lookup(key) == nil ? APIKey(rawValue: -1) : key
    }

    static func bounded(_ version: Int16, of key: APIKey) -> Int16 {
        APIDescriptor.lookup(key)?.validVersions.contains(version) == true ? version : -1
    }

    static func bounded(error code: Int16) -> Int16 {
        KafkaErrorName.isKnown(code) ? code : .min
    }

    /// The API's name, or `unknown` for a key no schema describes.
    static func api(_ key: APIKey) -> String {
        APIDescriptor.lookup(key)?.name ?? Self.unknownAPI
    }

    /// The version, or `unsupported` outside the versions the codec knows for the API.
    static func version(_ version: Int16, of key: APIKey) -> String {
        guard let api = APIDescriptor.lookup(key), api.validVersions.contains(version) else { return Self.unsupportedVersion }
        return String(version)
    }

    /// Kafka's name for the code, or `UNKNOWN_CODE` for one it does not define.
    static func error(_ code: Int16) -> String {
        KafkaErrorName.isKnown(code) ? KafkaErrorName.of(code) : Self.unknownError
    }
}
