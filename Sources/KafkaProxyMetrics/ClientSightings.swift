import Glibc
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
    /// request makes no string.
    private var cached: (clientID: [UInt8]?, entry: ClientDirectory.Entry)?

    public init(directory: ClientDirectory, address: String?) {
        self.directory = directory
        self.address = address
    }

    /// Notes a request from its payload's first bytes (a streamed frame's head is enough; ApiVersions, which
    /// names the client's software, is always small). Returns the entry it was noted under.
    @discardableResult
    public mutating func request(_ payload: ByteBuffer, header: RequestHeaderPrefix, at microseconds: Int64) -> ClientDirectory.Entry {
        let clientID = KafkaCodec.peekClientIDBytes(payload)
        let entry: ClientDirectory.Entry
        if let cached = self.cached, Self.same(clientID, cached.clientID) {
            entry = cached.entry
        } else {
            entry = self.directory.entry(for: clientID.map { String(decoding: $0, as: UTF8.self) } ?? "", at: microseconds)
            self.cached = (clientID.map(Array.init), entry)
        }
        entry.note(header, software: Self.software(payload, header), address: self.address, principal: self.principal, at: microseconds)
        return entry
    }

    private static func same(_ bytes: ByteBufferView?, _ cached: [UInt8]?) -> Bool {
        guard let bytes, let cached else { return bytes == nil && cached == nil }
        guard bytes.count == cached.count else { return false }
        return bytes.withUnsafeBytes { mine in cached.withUnsafeBytes { memcmp(mine.baseAddress!, $0.baseAddress!, $0.count) == 0 } }
    }

    private static func software(_ payload: ByteBuffer, _ header: RequestHeaderPrefix) -> ClientSoftware? {
        guard header.apiKey == .apiVersions, header.apiVersion >= 3,
            case .message(let request)? = try? KafkaCodec.decodeRequest(payload),
            let software = request.clientSoftware
        else { return nil }
        return ClientSoftware(name: software.name, version: software.version)
    }
}
