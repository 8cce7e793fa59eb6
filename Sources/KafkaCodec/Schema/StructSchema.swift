/// A structure of a message schema: the message body itself, a nested `[]Foo` element or a common struct.
public final class StructSchema: Sendable {
    public let name: String
    public let fields: [FieldSchema]

    public init(_ name: String, _ fields: [FieldSchema]) {
        self.name = name
        self.fields = fields
    }

    /// The position of the field called `name`, for callers that look a field up once and then index.
    public func index(of name: String) -> Int? {
        self.fields.firstIndex { $0.name == name }
    }
}
