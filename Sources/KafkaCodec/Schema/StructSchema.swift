/// A structure of a message schema: the message body itself, a nested `[]Foo` element or a common struct.
public final class StructSchema: Sendable {
    public let name: String
    public let fields: [FieldSchema]
    /// Where this structure keeps the fields that traffic inspection reads; worked out once, with the schema.
    public let roles: FieldRoles

    public init(_ name: String, _ fields: [FieldSchema]) {
        self.name = name
        self.fields = fields
        self.roles = FieldRoles(structName: name, fields: fields)
    }

    /// The position of the field called `name`, for callers that look a field up once and then index.
    public func index(of name: String) -> Int? {
        self.fields.firstIndex { $0.name == name }
    }
}
