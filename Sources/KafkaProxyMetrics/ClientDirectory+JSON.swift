import KafkaCodec

extension ClientDirectory {
    /// The view as one JSON document, `{"clients": [...]}`, one object per client id in id order.
    public func json() -> String {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("clients")
        writer.beginArray()
        for (clientID, record) in self.clients {
            Self.write(record, clientID: clientID, into: &writer)
        }
        writer.endArray()
        writer.endObject()
        return writer.output + "\n"
    }

    private static func write(_ record: ClientRecord, clientID: String, into writer: inout JSONWriter) {
        func optional(_ key: String, _ text: String?) {
            writer.key(key)
            if let text { writer.string(text) } else { writer.raw("null") }
        }
        writer.beginObject()
        optional("client_id", clientID)
        optional("software_name", record.software?.name)
        optional("software_version", record.software?.version)
        writer.key("addresses")
        writer.beginArray()
        for address in record.addresses { writer.string(address) }
        writer.endArray()
        optional("principal", record.principal)
        optional("first_seen", Timestamp.iso8601(microseconds: record.firstSeen))
        optional("last_seen", Timestamp.iso8601(microseconds: record.lastSeen))
        writer.key("apis")
        writer.beginArray()
        let byAPI = Dictionary(grouping: record.requests.sorted { $0.key < $1.key }, by: \.key.api)
        for api in byAPI.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
            writer.beginObject()
            writer.key("api")
            writer.string(WireLabels.api(api))
            writer.key("versions")
            writer.beginArray()
            for (key, count) in byAPI[api]! {
                writer.beginObject()
                writer.key("version")
                // -1: a version beyond the codec's schemas, which cannot be told apart once bounded.
                if key.version >= 0 { writer.number(key.version) } else { writer.raw("null") }
                writer.key("requests")
                writer.number(count)
                writer.endObject()
            }
            writer.endArray()
            writer.endObject()
        }
        writer.endArray()
        writer.key("removed_in_4_0")
        writer.beginArray()
        for (key, count) in record.removedInKafka4 {
            writer.beginObject()
            writer.key("api")
            writer.string(key.apiName)
            writer.key("version")
            writer.number(key.version)
            writer.key("requests")
            writer.number(count)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
    }
}
