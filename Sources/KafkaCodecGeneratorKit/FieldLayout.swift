/// What one version of a message looks like on the wire, and under which names its fields are read: the fields
/// present at that version, in order, with their types, nullability and tags, nested structs included.
/// Two definitions describe a version alike when their layouts are equal.
struct FieldLayout: Equatable {
    var name: String
    var type: String
    var nullable: Bool
    var tag: UInt32?
    var children: [FieldLayout]?

    /// The layout of `fields` at `version`; struct types named but not defined inline come from `commonStructs`.
    static func of(_ fields: [SchemaField], version: Int, commonStructs: [String: SchemaStruct]) throws -> [FieldLayout] {
        var layout: [FieldLayout] = []
        for field in fields where try VersionSpec(field.versions).contains(version) {
            let tagged = try field.taggedVersions.map { try VersionSpec($0).contains(version) } ?? false
            let element = field.type.hasPrefix("[]") ? String(field.type.dropFirst(2)) : field.type
            var children: [FieldLayout]?
            var type = field.type
            if let structFields = field.fields ?? (element.first?.isUppercase == true ? commonStructs[element]?.fields : nil) {
                children = try Self.of(structFields, version: version, commonStructs: commonStructs)
                // Struct names are not on the wire and may change between snapshots.
                type = field.type.hasPrefix("[]") ? "[]struct" : "struct"
            }
            layout.append(FieldLayout(
                name: field.name, type: type,
                nullable: try VersionSpec(field.nullableVersions ?? "none").contains(version),
                tag: tagged ? field.tag : nil, children: children))
        }
        return layout
    }
}
