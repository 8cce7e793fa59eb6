import Foundation

/// One Kafka JSON message schema, as found in `clients/src/main/resources/common/message`.
struct SchemaFile: Decodable {
    var apiKey: Int?
    var type: String
    var name: String
    var validVersions: String
    var flexibleVersions: String
    var fields: [SchemaField]
    var commonStructs: [SchemaStruct]?

    enum CodingKeys: String, CodingKey {
        case apiKey, type, name, validVersions, flexibleVersions, fields, commonStructs
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.apiKey = try container.decodeIfPresent(Int.self, forKey: .apiKey)
        self.type = try container.decode(String.self, forKey: .type)
        self.name = try container.decode(String.self, forKey: .name)
        self.validVersions = try container.decode(String.self, forKey: .validVersions)
        // Schemas of APIs Kafka removed (`"validVersions": "none"`) keep neither.
        self.flexibleVersions = try container.decodeIfPresent(String.self, forKey: .flexibleVersions) ?? "none"
        self.fields = try container.decodeIfPresent([SchemaField].self, forKey: .fields) ?? []
        self.commonStructs = try container.decodeIfPresent([SchemaStruct].self, forKey: .commonStructs)
    }
}

/// A common struct declared once and referenced by name from several fields.
struct SchemaStruct: Decodable {
    var name: String
    var versions: String
    var fields: [SchemaField]
}

struct SchemaField: Decodable {
    var name: String
    var type: String
    var versions: String
    var nullableVersions: String?
    var taggedVersions: String?
    var flexibleVersions: String?
    var tag: UInt32?
    var fields: [SchemaField]?

    enum CodingKeys: String, CodingKey {
        case name, type, versions, nullableVersions, taggedVersions, flexibleVersions, tag, fields
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decode(String.self, forKey: .name)
        self.type = try container.decode(String.self, forKey: .type)
        self.versions = try container.decode(String.self, forKey: .versions)
        self.nullableVersions = try container.decodeIfPresent(String.self, forKey: .nullableVersions)
        self.taggedVersions = try container.decodeIfPresent(String.self, forKey: .taggedVersions)
        self.flexibleVersions = try container.decodeIfPresent(String.self, forKey: .flexibleVersions)
        self.fields = try container.decodeIfPresent([SchemaField].self, forKey: .fields)
        // The schemas spell a tag both as `0` and as `"0"`.
        if let number = try? container.decodeIfPresent(UInt32.self, forKey: .tag) {
            self.tag = number
        } else if let text = try container.decodeIfPresent(String.self, forKey: .tag) {
            guard let number = UInt32(text) else {
                throw GeneratorError("field \(self.name): tag \"\(text)\" is not a number")
            }
            self.tag = number
        } else {
            self.tag = nil
        }
    }
}

extension SchemaFile {
    /// Reads a schema file; Kafka's files carry `//` comments, which JSON5 mode accepts.
    static func load(_ url: URL) throws -> SchemaFile {
        let decoder = JSONDecoder()
        decoder.allowsJSON5 = true
        do {
            return try decoder.decode(SchemaFile.self, from: Data(contentsOf: url))
        } catch {
            throw GeneratorError("\(url.lastPathComponent): \(error)")
        }
    }
}

struct GeneratorError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
