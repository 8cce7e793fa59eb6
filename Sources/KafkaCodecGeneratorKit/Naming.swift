/// Naming rules shared by the emitted tables.
enum Naming {
    /// `NodeId` → `nodeId`: the JSON name Kafka's own converters use.
    static func lowerCamel(_ name: String) -> String {
        guard let first = name.first else { return name }
        return first.lowercased() + name.dropFirst()
    }

    /// `MetadataRequest` → `Metadata`.
    static func apiName(requestSchemaName: String) -> String {
        requestSchemaName.hasSuffix("Request") ? String(requestSchemaName.dropLast("Request".count)) : requestSchemaName
    }

    static func swiftStringLiteral(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            default: escaped.append(character)
            }
        }
        return "\"\(escaped)\""
    }
}
