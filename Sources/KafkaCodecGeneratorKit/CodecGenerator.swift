public import Foundation

/// Reads snapshots of Kafka's JSON message schemas and renders the codec tables, one Swift file per schema.
public enum CodecGenerator {
    /// The rendered files, keyed by file name, for writing or for comparing with the committed ones.
    /// `snapshots` run from the newest to the oldest: each version of each message is defined by the newest
    /// snapshot that lists it, and the newest snapshot alone says which versions Kafka still accepts.
    public static func render(snapshots: [URL]) throws -> [String: String] {
        guard let newest = snapshots.first else { throw GeneratorError("no schema directory given") }
        var schemas = try Self.load(newest)
        for older in snapshots.dropFirst() {
            schemas = try Self.fold(try Self.load(older), into: schemas)
        }
        var files: [String: String] = [:]
        for schema in schemas.values {
            var emitter = SchemaTableEmitter(file: schema.file, source: schema.source)
            files[schema.file.name + ".swift"] = try emitter.emit()
            if TypedMessageEmitter.selected.contains(schema.file.name) {
                var typed = TypedMessageEmitter(file: schema.file, source: schema.source)
                files[schema.file.name + "+Typed.swift"] = try typed.emit()
            }
        }
        files["APIRegistry.swift"] = try RegistryEmitter(schemas: Array(schemas.values), snapshot: newest.lastPathComponent).emit()
        return files
    }

    /// Replaces the generated files in `outputDirectory` with a fresh rendering.
    public static func write(snapshots: [URL], outputDirectory: URL) throws -> Int {
        let files = try self.render(snapshots: snapshots)
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

    /// One snapshot's schemas, keyed so that a renamed API (key 74) still meets its older self.
    private static func load(_ directory: URL) throws -> [String: SnapshotSchema] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".json") }
            .sorted()
        guard !names.isEmpty else {
            throw GeneratorError("no *.json schema files in \(directory.path)")
        }
        var schemas: [String: SnapshotSchema] = [:]
        for name in names {
            let file = try SchemaFile.load(directory.appendingPathComponent(name))
            let key = file.apiKey.map { "\(file.type) \($0)" } ?? file.name
            let versions = try VersionSpec(file.validVersions)
            schemas[key] = SnapshotSchema(
                file: file, source: "\(directory.lastPathComponent)/\(name)", currentVersions: versions)
        }
        return schemas
    }

    /// Adds the versions only `older` lists to `newer`; schemas only `older` has are left out, as Kafka left
    /// them out (a renamed API is matched by its key).
    private static func fold(
        _ older: [String: SnapshotSchema], into newer: [String: SnapshotSchema]
    ) throws -> [String: SnapshotSchema] {
        var merged = newer
        for (key, current) in newer {
            guard let previous = older[key] else { continue }
            let before = try VersionSpec(current.file.validVersions)
            var file = try SnapshotMerge(newer: current.file, older: previous.file).merged()
            file.name = current.file.name
            let after = try VersionSpec(file.validVersions)
            guard after != before else { continue }
            let legacy = before.isEmpty ? after : VersionSpec(lowest: after.lowest, highest: before.lowest - 1)
            let which = legacy.highest == legacy.lowest ? "version" : "versions"
            merged[key] = SnapshotSchema(
                file: file, source: "\(current.source), \(which) \(legacy.text) from \(previous.source)",
                currentVersions: current.currentVersions)
        }
        return merged
    }
}

/// A schema with where each of its versions was defined, and which versions the newest snapshot still lists.
struct SnapshotSchema {
    var file: SchemaFile
    var source: String
    var currentVersions: VersionSpec
}
