/// Folds an older snapshot of a schema into a newer one, so that one table decodes every version either lists:
/// each version takes its definition from the newest snapshot that lists it.
///
/// Kafka 4.0 raised the lowest valid version of many APIs (KIP-896) and dropped the fields only those versions
/// had, but clients, brokers and captures still use them. The newer definition is kept for every version it
/// lists; below its lowest version, fields the older snapshot had are put back where they stood, limited to
/// those versions. Every version of the result is then checked against the snapshot it comes from.
struct SnapshotMerge {
    let newer: SchemaFile
    let older: SchemaFile
    private let newerCommon: [String: SchemaStruct]
    private let olderCommon: [String: SchemaStruct]
    /// The versions only the older snapshot lists.
    private let legacy: VersionSpec

    init(newer: SchemaFile, older: SchemaFile) throws {
        self.newer = newer
        self.older = older
        self.newerCommon = Dictionary((newer.commonStructs ?? []).map { ($0.name, $0) }) { first, _ in first }
        self.olderCommon = Dictionary((older.commonStructs ?? []).map { ($0.name, $0) }) { first, _ in first }
        let (newVersions, oldVersions) = (try VersionSpec(newer.validVersions), try VersionSpec(older.validVersions))
        if newVersions.isEmpty {
            self.legacy = oldVersions
        } else {
            self.legacy = oldVersions.clipped(lowest: oldVersions.lowest, highest: newVersions.lowest - 1)
            if !self.legacy.isEmpty, let highest = oldVersions.highest, highest < newVersions.lowest - 1 {
                throw GeneratorError("\(newer.name): versions \(highest + 1)-\(newVersions.lowest - 1) are in neither snapshot")
            }
        }
    }

    /// The merged schema, or the newer one unchanged when the older lists no version it lacks.
    func merged() throws -> SchemaFile {
        guard !self.legacy.isEmpty else { return self.newer }
        let newVersions = try VersionSpec(self.newer.validVersions)
        // `"validVersions": "none"`: the API left Kafka; its last definition is the one to decode.
        guard !newVersions.isEmpty else { return self.older }
        var merged = self.newer
        merged.validVersions = VersionSpec(lowest: self.legacy.lowest, highest: newVersions.highest).text
        merged.fields = try self.mergeFields(self.newer.fields, self.older.fields)
        try self.verify(merged)
        return merged
    }

    /// The newer fields in order, with the older fields that only legacy versions have put back before the
    /// newer field that followed them.
    private func mergeFields(_ newer: [SchemaField], _ older: [SchemaField]) throws -> [SchemaField] {
        var merged: [SchemaField] = []
        var next = older.startIndex
        for field in newer {
            guard let match = older[next...].firstIndex(where: { $0.name.lowercased() == field.name.lowercased() }) else {
                merged.append(try self.clippedToNewer(field))
                continue
            }
            merged += try older[next..<match].compactMap(self.clippedToLegacy)
            merged.append(try self.mergeField(field, older[match]))
            next = match + 1
        }
        merged += try older[next...].compactMap(self.clippedToLegacy)
        return merged
    }

    private func mergeField(_ newer: SchemaField, _ older: SchemaField) throws -> SchemaField {
        if try self.alike([newer], [older]) { return newer }
        let newerChildren = try self.structFields(of: newer, in: self.newerCommon)
        let olderChildren = try self.structFields(of: older, in: self.olderCommon)
        guard let newerChildren, let olderChildren, newer.type.hasPrefix("[]") == older.type.hasPrefix("[]") else {
            throw GeneratorError("\(self.newer.name): field \(newer.name) differs in versions \(self.legacy.text) "
                + "and is not a struct whose fields can be merged")
        }
        var merged = newer
        let (newerVersions, olderVersions) = (try VersionSpec(newer.versions), try VersionSpec(older.versions))
        merged.versions = VersionSpec(lowest: min(newerVersions.lowest, olderVersions.lowest), highest: newerVersions.highest).text
        merged.fields = try self.mergeFields(newerChildren, olderChildren)
        return merged
    }

    /// Whether `newer` and `older` describe every legacy version alike.
    private func alike(_ newer: [SchemaField], _ older: [SchemaField]) throws -> Bool {
        for version in self.legacy.lowest...(self.legacy.highest ?? self.legacy.lowest) {
            let newLayout = try FieldLayout.of(newer, version: version, commonStructs: self.newerCommon)
            let oldLayout = try FieldLayout.of(older, version: version, commonStructs: self.olderCommon)
            if newLayout != oldLayout { return false }
        }
        return true
    }

    /// A newer field the older snapshot did not have at legacy versions: present from the newer lowest on only.
    private func clippedToNewer(_ field: SchemaField) throws -> SchemaField {
        var clipped = field
        let lowest = (self.legacy.highest ?? self.legacy.lowest) + 1
        clipped.versions = try VersionSpec(field.versions).clipped(lowest: lowest, highest: nil).text
        return clipped
    }

    /// An older field, limited to legacy versions and with its struct written out; nil if it has none.
    private func clippedToLegacy(_ field: SchemaField) throws -> SchemaField? {
        let versions = try VersionSpec(field.versions).clipped(lowest: self.legacy.lowest, highest: self.legacy.highest)
        guard !versions.isEmpty else { return nil }
        var clipped = field
        clipped.versions = versions.text
        clipped.fields = try self.structFields(of: field, in: self.olderCommon)
        return clipped
    }

    /// The fields of a struct-typed field, from the field itself or from the common structs.
    private func structFields(of field: SchemaField, in common: [String: SchemaStruct]) throws -> [SchemaField]? {
        if let fields = field.fields { return fields }
        let element = field.type.hasPrefix("[]") ? String(field.type.dropFirst(2)) : field.type
        return common[element]?.fields
    }

    /// Every version of `merged` must read as the snapshot it comes from describes it.
    private func verify(_ merged: SchemaFile) throws {
        let versions = try VersionSpec(merged.validVersions)
        let newVersions = try VersionSpec(self.newer.validVersions)
        let mergedFlexible = try VersionSpec(merged.flexibleVersions)
        for version in versions.lowest...(versions.highest ?? versions.lowest) {
            let source = newVersions.contains(version) ? self.newer : self.older
            let sourceCommon = newVersions.contains(version) ? self.newerCommon : self.olderCommon
            let expected = try FieldLayout.of(source.fields, version: version, commonStructs: sourceCommon)
            let actual = try FieldLayout.of(merged.fields, version: version, commonStructs: self.newerCommon)
            guard expected == actual, try VersionSpec(source.flexibleVersions).contains(version) == mergedFlexible.contains(version) else {
                throw GeneratorError("\(merged.name): the merged definition of version \(version) differs from its snapshot's")
            }
        }
    }
}
