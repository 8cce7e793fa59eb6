public import KafkaCodec
public import NIOCore

/// Frames a broken or hostile peer could send, for fuzzing and for hostile clients against a live proxy:
/// generated messages of every API and version whose record batches carry valid CRCs in front of header values
/// that cannot be true, optionally mutated byte by byte. Seeded, so that what one produced can be replayed.
public struct HostileFrames {
    public var random: SeededRandom

    public init(seed: UInt64) {
        self.random = SeededRandom(seed: seed)
    }

    /// A whole request frame, size prefix included, of any API and version the codec knows.
    public mutating func request(correlationID: Int32, mutate: Bool) -> ByteBuffer {
        let api = APIDescriptor.all.randomElement(using: &self.random)!
        return self.request(api, correlationID: correlationID, mutate: mutate)
    }

    /// A Produce request, the kind that carries batches from clients.
    public mutating func produce(correlationID: Int32, mutate: Bool) -> ByteBuffer {
        self.request(APIDescriptor.lookup(.produce)!, correlationID: correlationID, mutate: mutate)
    }

    public mutating func request(_ api: APIDescriptor, correlationID: Int32, mutate: Bool) -> ByteBuffer {
        let version = self.anyVersion(of: api)
        let headerVersion = api.requestHeaderVersion(version)
        var header = self.generate(.requestHeader, version: headerVersion)
        header.setValue(.int16(api.key.rawValue), for: "requestApiKey", in: MessageSchema.requestHeader.body)
        header.setValue(.int16(version), for: "requestApiVersion", in: MessageSchema.requestHeader.body)
        header.setValue(.int32(correlationID), for: "correlationId", in: MessageSchema.requestHeader.body)
        let request = KafkaRequest(
            apiKey: api.key, apiVersion: version, headerVersion: headerVersion, header: header,
            body: self.generate(api.request, version: version))
        return self.frame(mutate: mutate, keepingPrefix: 12) { buffer throws(KafkaEncodingError) in try KafkaCodec.encode(request, into: &buffer) }
    }

    /// A whole response frame answering a request of `api` at `version`; any version when the codec does not
    /// know that one.
    public mutating func response(to key: APIKey, version requested: Int16, correlationID: Int32, mutate: Bool) -> ByteBuffer {
        let api = APIDescriptor.lookup(key) ?? APIDescriptor.all.randomElement(using: &self.random)!
        let version = api.validVersions.contains(requested) ? requested : self.anyVersion(of: api)
        let headerVersion = api.responseHeaderVersion(version)
        var header = self.generate(.responseHeader, version: headerVersion)
        header.setValue(.int32(correlationID), for: "correlationId", in: MessageSchema.responseHeader.body)
        let response = KafkaResponse(
            apiKey: api.key, apiVersion: version, headerVersion: headerVersion, header: header,
            body: self.generate(api.response, version: version))
        return self.frame(mutate: mutate, keepingPrefix: 8) { buffer throws(KafkaEncodingError) in try KafkaCodec.encode(response, into: &buffer) }
    }

    private mutating func anyVersion(of api: APIDescriptor) -> Int16 {
        Int16.random(in: api.validVersions.lowest...api.validVersions.highest, using: &self.random)
    }

    /// The encoded message as a frame; mutated after its size, and after its header's first fields
    /// (`keepingPrefix`) so that most mutations reach the body.
    private mutating func frame(
        mutate: Bool, keepingPrefix: Int, _ encode: (inout ByteBuffer) throws(KafkaEncodingError) -> Void
    ) -> ByteBuffer {
        var frame = try! KafkaCodec.encodeFrame(encode)  // generated values always fit their schema
        if mutate { self.mutate(&frame, keepingPrefix: keepingPrefix) }
        return frame
    }

    /// Flips, sets, inserts or deletes a few bytes after `keepingPrefix`, then puts the size prefix right again
    /// half of the time (so that the damage lies inside a frame that can be read whole).
    public mutating func mutate(_ frame: inout ByteBuffer, keepingPrefix: Int) {
        var bytes = Array(frame.readableBytesView)
        for _ in 0..<Int.random(in: 1...4, using: &self.random) where bytes.count > keepingPrefix {
            let index = Int.random(in: keepingPrefix..<bytes.count, using: &self.random)
            switch Int.random(in: 0..<4, using: &self.random) {
            case 0: bytes[index] ^= 1 << UInt8.random(in: 0..<8, using: &self.random)
            case 1: bytes[index] = [0x00, 0xFF, 0x7F, 0x80].randomElement(using: &self.random)!
            case 2: bytes.insert(UInt8.random(in: 0...255, using: &self.random), at: index)
            default: bytes.remove(at: index)
            }
        }
        if bytes.count >= 4, Bool.random(using: &self.random) {
            let size = UInt32(bytes.count - 4).bigEndian
            withUnsafeBytes(of: size) { bytes.replaceSubrange(0..<4, with: $0) }
        }
        frame = ByteBuffer(bytes: bytes)
    }

    private mutating func generate(_ schema: MessageSchema, version: Int16) -> KafkaStruct {
        var generator = SchemaValueGenerator(
            seed: self.random.next(), version: version, flexible: schema.isFlexible(version))
        generator.makeRecords = { random in HostileRecords.field(using: &random) }
        return generator.makeStruct(schema.body)
    }
}

/// Record data whose batches are well formed enough to be read, with a valid CRC-32C, and whose header values
/// are drawn from those that cannot be true as often as from plausible ones.
public enum HostileRecords {
    /// A `records` field: up to three entries, sometimes with a cut tail as fetch responses have.
    public static func field(using random: inout SeededRandom) -> ByteBuffer {
        var field = ByteBuffer()
        for _ in 0..<Int.random(in: 0...3, using: &random) {
            var batch = Self.batch(using: &random)
            field.writeBuffer(&batch)
        }
        if field.readableBytes > 0, Int.random(in: 0..<6, using: &random) == 0 {
            field.moveWriterIndex(to: Int.random(in: 0..<field.writerIndex, using: &random))
        }
        return field
    }

    public static func batch(using random: inout SeededRandom) -> ByteBuffer {
        let lastOffsetDelta: Int32 = Self.pick([-1, 0, 4, .max, .min, -5], using: &random)
        let recordCount: Int32 = Self.pick(
            [-5, -1, 0, 1, lastOffsetDelta &+ 1, lastOffsetDelta &+ 2, .max, .min], using: &random)
        let firstTimestamp: Int64 = Self.pick([-1, -2, .min, .max, 1_764_000_000_000, 0], using: &random)
        let maxTimestamp: Int64 = Self.pick([-1, -1000, .min, .max, firstTimestamp], using: &random)
        let magic: Int8 = Int.random(in: 0..<8, using: &random) == 0 ? Self.pick([0, 1, 3, -1, 127], using: &random) : 2
        let records = (0..<Int.random(in: 0...24, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }

        // Everything the CRC covers: from the attributes to the end of the batch.
        var covered = ByteBuffer()
        covered.writeInteger(Int16.random(in: .min ... .max, using: &random))  // attributes: any codec, any flag
        covered.writeInteger(lastOffsetDelta)
        covered.writeInteger(firstTimestamp)
        covered.writeInteger(maxTimestamp)
        covered.writeInteger(Int64(-1))  // producer id
        covered.writeInteger(Int16(-1))  // producer epoch
        covered.writeInteger(Int32(-1))  // base sequence
        covered.writeInteger(recordCount)
        covered.writeBytes(records)
        let crc = covered.withUnsafeReadableBytes { CRC32.castagnoli.checksum($0) }

        var batch = ByteBuffer()
        batch.writeInteger(Int64.random(in: -2...1_000_000, using: &random))  // base offset
        let truthfulLength = Int32(4 + 1 + 4 + covered.readableBytes)
        let length: Int32 = Int.random(in: 0..<6, using: &random) == 0
            ? Self.pick([-1, .min, 0, 20, truthfulLength - 1, truthfulLength + 7, .max], using: &random) : truthfulLength
        batch.writeInteger(length)
        batch.writeInteger(Int32(-1))  // partition leader epoch
        batch.writeInteger(magic)
        batch.writeInteger(crc)
        batch.writeBuffer(&covered)
        return batch
    }

    private static func pick<T>(_ choices: [T], using random: inout SeededRandom) -> T {
        choices.randomElement(using: &random)!
    }
}
