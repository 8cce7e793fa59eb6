public import KafkaCodec
public import NIOCore

/// SplitMix64: a tiny seeded generator, so a failing round trip can be replayed from its seed.
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { self.state = seed }

    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Builds random value trees that fit a schema at one version: nested arrays, nulls where the version allows
/// them, known tagged fields present or absent, and unknown tagged fields that must survive a round trip.
public struct SchemaValueGenerator {
    var random: SeededRandom
    let version: Int16
    let flexible: Bool
    private var depth = 0
    /// Makes the value of every `records` field; random bytes by default.
    public var makeRecords: ((inout SeededRandom) -> ByteBuffer)?

    public init(seed: UInt64, version: Int16, flexible: Bool) {
        self.random = SeededRandom(seed: seed)
        self.version = version
        self.flexible = flexible
    }

    public mutating func makeStruct(_ schema: StructSchema) -> KafkaStruct {
        var values = [KafkaValue?](repeating: nil, count: schema.fields.count)
        var usedTags = Set<UInt32>()
        for (index, field) in schema.fields.enumerated() {
            if field.isTagged(at: self.version) {
                usedTags.insert(field.tag!)
                guard self.flexible, Bool.random(using: &self.random) else { continue }
            } else if !field.isInline(at: self.version) {
                continue
            }
            let nullable = field.nullableVersions.contains(self.version)
            values[index] = self.makeValue(field.type, nullable: nullable)
        }
        var unknown: [RawTaggedField] = []
        if self.flexible && Int.random(in: 0..<4, using: &self.random) == 0 {
            var tag = UInt32.random(in: 0..<40, using: &self.random)
            for _ in 0..<Int.random(in: 1...2, using: &self.random) {
                while usedTags.contains(tag) { tag += 1 }
                unknown.append(RawTaggedField(tag: tag, data: self.makeBuffer(maxLength: 6)))
                tag += UInt32.random(in: 1...300, using: &self.random)
            }
        }
        return KafkaStruct(values: values, unknownTaggedFields: unknown)
    }

    private mutating func makeValue(_ type: FieldType, nullable: Bool) -> KafkaValue {
        if nullable, Int.random(in: 0..<4, using: &self.random) == 0 {
            return .null
        }
        switch type {
        case .bool: return .bool(.random(using: &self.random))
        case .int8: return .int8(.random(in: .min ... .max, using: &self.random))
        case .int16: return .int16(.random(in: .min ... .max, using: &self.random))
        case .uint16: return .uint16(.random(in: .min ... .max, using: &self.random))
        case .int32: return .int32(.random(in: .min ... .max, using: &self.random))
        case .uint32: return .uint32(.random(in: .min ... .max, using: &self.random))
        case .int64: return .int64(.random(in: .min ... .max, using: &self.random))
        case .float64: return .float64(Double.random(in: -1e9...1e9, using: &self.random))
        case .uuid: return .uuid(KafkaUUID(high: self.random.next(), low: self.random.next()))
        case .string: return .string(self.makeString())
        case .bytes: return .bytes(self.makeBuffer(maxLength: 12))
        case .records:
            if let makeRecords = self.makeRecords { return .records(makeRecords(&self.random)) }
            return .records(self.makeBuffer(maxLength: 80))
        case .array(let element):
            let count = self.depth > 3 ? 0 : Int.random(in: 0...3, using: &self.random)
            self.depth += 1
            defer { self.depth -= 1 }
            return .array((0..<count).map { _ in self.makeValue(element, nullable: false) })
        case .structure(let schema):
            self.depth += 1
            defer { self.depth -= 1 }
            return .structure(self.makeStruct(schema))
        }
    }

    private mutating func makeString() -> String {
        let alphabet = Array("abcXYZ09-._ é€𝄞")
        let length = Int.random(in: 0...10, using: &self.random)
        return String((0..<length).map { _ in alphabet.randomElement(using: &self.random)! })
    }

    private mutating func makeBuffer(maxLength: Int) -> ByteBuffer {
        let length = Int.random(in: 0...maxLength, using: &self.random)
        return ByteBuffer(bytes: (0..<length).map { _ in UInt8.random(in: 0...255, using: &self.random) })
    }
}
