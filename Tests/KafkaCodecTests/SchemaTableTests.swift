import KafkaCodec
import KafkaTestSupport
import Testing

/// Spot checks that the generated tables carry the schema facts the walker depends on.
@Suite struct SchemaTableTests {
    @Test func theClientIdIsNeverCompact() throws {
        let clientID = try #require(MessageSchema.requestHeader.body.fields.first { $0.name == "clientId" })
        #expect(clientID.flexibleVersions == .empty)
        #expect(clientID.nullableVersions == .since(1))
    }

    @Test func knownTaggedFieldsAreTyped() throws {
        let produce = MessageSchema.produceResponse.body
        let endpoints = try #require(produce.fields.first { $0.name == "nodeEndpoints" })
        #expect(endpoints.tag == 0)
        #expect(endpoints.taggedVersions == .since(10))
        #expect(endpoints.isTagged(at: 10))
        #expect(!endpoints.isInline(at: 10))
        #expect(!endpoints.isTagged(at: 9))
    }

    @Test func everyMessageHasConsistentVersions() {
        for api in APIDescriptor.all {
            #expect(api.request.validVersions == api.response.validVersions, "\(api.name)")
            #expect(api.request.apiKey == api.key.rawValue && api.response.apiKey == api.key.rawValue)
            #expect(!api.validVersions.isEmpty)
        }
    }
}
