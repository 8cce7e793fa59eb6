/// The wire type of one schema field.
///
/// Structures are reference types (`StructSchema`), so the enum stays small and tables can share them.
public indirect enum FieldType: Sendable {
    case bool
    case int8
    case int16
    case uint16
    case int32
    case uint32
    case int64
    case float64
    case uuid
    case string
    case bytes
    case records
    case array(FieldType)
    case structure(StructSchema)
}

extension FieldType: CustomStringConvertible {
    public var description: String {
        switch self {
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
        case .array(let element): "[]\(element)"
        case .structure(let schema): schema.name
        }
    }
}
