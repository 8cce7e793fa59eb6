extension KafkaValue {
    /// A short name of the case, for error messages.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .int8: "int8"
        case .int16: "int16"
        case .uint16: "uint16"
        case .int32: "int32"
        case .uint32: "uint32"
        case .int64: "int64"
        case .float64: "float64"
        case .uuid: "uuid"
        case .string: "string"
        case .bytes: "bytes"
        case .records: "records"
        case .array: "array"
        case .structure: "struct"
        }
    }
}

extension KafkaStruct {
    /// The value of the field called `name` in `schema`, or nil where it is absent.
    public func value(_ name: String, in schema: StructSchema) -> KafkaValue? {
        schema.index(of: name).flatMap { self.values[$0] }
    }

    /// Replaces the value of the field called `name`; returns false when the schema has no such field.
    @discardableResult
    public mutating func setValue(_ value: KafkaValue?, for name: String, in schema: StructSchema) -> Bool {
        guard let index = schema.index(of: name) else { return false }
        self.values[index] = value
        return true
    }
}
