public import Foundation

/// Reads a directory of Kafka JSON message schemas and renders the codec tables, one Swift file per schema.
public enum CodecGenerator {
    /// The rendered files, keyed by file name, for writing or for comparing with the committed ones.
    public static func render(schemaDirectory: URL) throws -> [String: String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: schemaDirectory.path)
            .filter { $0.hasSuffix(".json") }
            .sorted()
        guard !names.isEmpty else {
            throw GeneratorError("no *.json schema files in \(schemaDirectory.path)")
        }
        var files: [String: String] = [:]
        var schemas: [SchemaFile] = []
        for name in names {
            let schema = try SchemaFile.load(schemaDirectory.appendingPathComponent(name))
            var emitter = SchemaTableEmitter(file: schema, fileName: name)
            files[schema.name + ".swift"] = try emitter.emit()
            if TypedMessageEmitter.selected.contains(schema.name) {
                var typed = TypedMessageEmitter(file: schema, fileName: name)
                files[schema.name + "+Typed.swift"] = try typed.emit()
            }
            schemas.append(schema)
        }
        files["APIRegistry.swift"] = try RegistryEmitter(schemas: schemas).emit()
        return files
    }

    /// Replaces the generated files in `outputDirectory` with a fresh rendering.
    public static func write(schemaDirectory: URL, outputDirectory: URL) throws -> Int {
        let files = try self.render(schemaDirectory: schemaDirectory)
        let manager = FileManager.default
        try manager.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        for stale in try manager.contentsOfDirectory(atPath: outputDirectory.path) where stale.hasSuffix(".swift") {
            try manager.removeItem(at: outputDirectory.appendingPathComponent(stale))
        }
        for (name, contents) in files {
            try Data(contents.utf8).write(to: outputDirectory.appendingPathComponent(name))
        }
        return files.count
    }
}
