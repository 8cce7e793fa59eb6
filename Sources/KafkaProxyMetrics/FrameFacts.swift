import KafkaCodec

/// What the recorder learns from a frame: its facts, or why it could not read them. Whole frames are read straight
/// from their bytes, as the capture analyzer reads them (`KafkaCodec.inspectRequest`); frames that streamed through
/// in parts, from their decoded structure.
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

    /// From a decoded message.
    init<Message>(
        _ decoded: Result<DecodedFrame<Message>, KafkaDecodingError>, apiKey: APIKey, facts: (Message) -> MessageFacts?
    ) {
        switch decoded {
        case .failure(let error): self = .malformed(error)
        case .success(.opaque(let frame)): self = .beyondSchemas(UndecodedReason(frame.reason))
        case .success(.message(let message)):
            if let read = facts(message) { self = .facts(apiKey, read) } else { self = .beyondSchemas(.unknownAPI) }
        }
    }
}
