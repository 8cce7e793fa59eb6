public import NIOCore

/// The fields every request header starts with, at fixed offsets.
public struct RequestHeaderPrefix: Hashable, Sendable {
    public var apiKey: APIKey
    public var apiVersion: Int16
    public var correlationID: Int32

    public init(apiKey: APIKey, apiVersion: Int16, correlationID: Int32) {
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.correlationID = correlationID
    }
}

extension RequestHeaderPrefix {
    /// Whether Kafka 4.0 refuses this request's API version (see `APIDescriptor.isRemovedInKafka4`).
    public var isRemovedInKafka4: Bool {
        APIDescriptor.lookup(self.apiKey)?.isRemovedInKafka4(self.apiVersion) ?? false
    }
}

/// A decoded request: its header and body, each aligned with its schema table.
public struct KafkaRequest: Hashable, Sendable {
    public var apiKey: APIKey
    public var apiVersion: Int16
    public var headerVersion: Int16
    /// Values of `MessageSchema.requestHeader` at `headerVersion`.
    public var header: KafkaStruct
    public var body: KafkaStruct

    public init(apiKey: APIKey, apiVersion: Int16, headerVersion: Int16, header: KafkaStruct, body: KafkaStruct) {
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.headerVersion = headerVersion
        self.header = header
        self.body = body
    }

    public var correlationID: Int32 {
        guard case .int32(let id) = self.header.value("correlationId", in: MessageSchema.requestHeader.body) else {
            return -1
        }
        return id
    }

    public var clientID: String? {
        guard case .string(let id) = self.header.value("clientId", in: MessageSchema.requestHeader.body) else {
            return nil
        }
        return id
    }

    /// The client software's name and version, which ApiVersions requests carry from v3 (KIP-511).
    public var clientSoftware: (name: String, version: String)? {
        guard self.apiKey == .apiVersions, let schema = APIDescriptor.lookup(.apiVersions)?.request.body,
            case .string(let name)? = self.body.value("clientSoftwareName", in: schema),
            case .string(let version)? = self.body.value("clientSoftwareVersion", in: schema)
        else { return nil }
        return (name, version)
    }
}

/// A decoded response; its key and version come from the request it answers.
public struct KafkaResponse: Hashable, Sendable {
    public var apiKey: APIKey
    public var apiVersion: Int16
    public var headerVersion: Int16
    /// Values of `MessageSchema.responseHeader` at `headerVersion`.
    public var header: KafkaStruct
    public var body: KafkaStruct

    public init(apiKey: APIKey, apiVersion: Int16, headerVersion: Int16, header: KafkaStruct, body: KafkaStruct) {
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.headerVersion = headerVersion
        self.header = header
        self.body = body
    }

    public var correlationID: Int32 {
        guard case .int32(let id) = self.header.value("correlationId", in: MessageSchema.responseHeader.body) else {
            return -1
        }
        return id
    }
}

/// A frame the codec carries without decoding, and why.
public struct OpaqueFrame: Hashable, Sendable {
    public enum Reason: Hashable, Sendable {
        /// No schema describes this API key.
        case unknownAPIKey
        /// The schemas describe the API, but not this version.
        case unsupportedVersion(supported: VersionRange)
    }

    public var reason: Reason
    public var apiKey: APIKey
    public var apiVersion: Int16
    public var correlationID: Int32
    /// The whole frame payload, untouched.
    public var bytes: ByteBuffer

    public init(reason: Reason, apiKey: APIKey, apiVersion: Int16, correlationID: Int32, bytes: ByteBuffer) {
        self.reason = reason
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.correlationID = correlationID
        self.bytes = bytes
    }
}

extension OpaqueFrame.Reason: CustomStringConvertible {
    public var description: String {
        switch self {
        case .unknownAPIKey: "unknown API key"
        case .unsupportedVersion(let supported): "version not in the schemas (supported \(supported))"
        }
    }
}

/// The outcome of decoding a frame: a message, or an opaque frame for keys and versions beyond the schemas.
public enum DecodedFrame<Message: Hashable & Sendable>: Hashable, Sendable {
    case message(Message)
    case opaque(OpaqueFrame)
}
