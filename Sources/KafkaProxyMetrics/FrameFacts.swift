import KafkaCodec

/// What the recorder learns from a frame: its facts, or why it could not read them. Frames are read straight from
/// their bytes, as the capture analyzer reads them (`KafkaCodec.inspectRequest`, `FrameSkeleton.inspectRequest` for
/// frames that streamed through in parts).
enum FrameFacts {
    case facts(APIKey, MessageFacts)
    case beyondSchemas(UndecodedReason)
    case malformed(KafkaDecodingError)

    /// From bytes: nil facts mean the key or version is beyond the schemas.
    init(_ inspected: Result<MessageFacts?, KafkaDecodingError>, apiKey: APIKey) {
        switch inspected {
        case .failure(let error): self = .malformed(error)
        case .success(let facts?): self = .facts(apiKey, facts)
        case .success(nil): self = .beyondSchemas(APIDescriptor.lookup(apiKey) == nil ? .unknownAPI : .unsupportedVersion)
        }
    }

    /// The facts, when the frame was read.
    var facts: MessageFacts? {
        if case .facts(_, let facts) = self { facts } else { nil }
    }
}
