public import KafkaCodec
public import NIOCore

/// One connection's requests noted in a `ClientDirectory`: the proxy's recorder and the capture analyzer both
/// note through it, so the readiness view says the same of a connection whichever of them saw it.
public struct ClientSightings {
    private let directory: ClientDirectory
    /// Where the connection comes from (ip:port).
    public var address: String?
    /// The principal the connection authenticated as, once it has.
    public var principal: String?
    /// The entry of the client id last seen, which a connection rarely changes, found by its bytes so that a
    /// request makes no string. Two properties rather than an optional pair: binding the pair to test it copied
    /// both references, for every request.
    private var cachedEntry: ClientDirectory.Entry?
    private var cachedClientID: [UInt8]?

    public init(directory: ClientDirectory, address: String?) {
        self.directory = directory
        self.address = address
    }

    /// Notes a request from its payload's first bytes (a streamed frame's head is enough; ApiVersions, which
    /// names the client's software, is always small). Returns the entry it was noted under.
    @discardableResult
    public mutating func request(_ payload: ByteBuffer, header: RequestHeaderPrefix, at microseconds: Int64) -> ClientDirectory.Entry {
        let clientID = KafkaCodec.peekClientID(payload)
        if self.cachedEntry == nil || !Self.same(payload, clientID, self.cachedClientID) {
            let bytes = clientID.map { payload.getBytes(at: payload.readerIndex + $0.lowerBound, length: $0.count)! }
            self.cachedEntry = self.directory.entry(for: bytes.map { String(decoding: $0, as: UTF8.self) } ?? "", at: microseconds)
            self.cachedClientID = bytes
        }
        let entry = self.cachedEntry.unsafelyUnwrapped
        entry.note(header, software: Self.software(payload, header), address: self.address, principal: self.principal, at: microseconds)
        return entry
    }

    /// Whether the client id at `range` of `payload` is `cached`.
    private static func same(_ payload: ByteBuffer, _ range: Range<Int>?, _ cached: [UInt8]?) -> Bool {
        guard let range, let cached else { return range == nil && cached == nil }
        return payload.readableBytes(range, equal: cached)
    }

    private static func software(_ payload: ByteBuffer, _ header: RequestHeaderPrefix) -> ClientSoftware? {
        guard header.apiKey == .apiVersions, header.apiVersion >= 3,
            case .message(let request)? = try? KafkaCodec.decodeRequest(payload),
            let software = request.clientSoftware
        else { return nil }
        return ClientSoftware(name: software.name, version: software.version)
    }
}
