import Testing

@testable import KafkaCodec

/// The plain-value table frames are read through says what the descriptors say, for every API and version.
@Suite struct MessageReadingTableTests {
    @Test func everyVersionReadsWithItsDescriptorsPlansAndHeaders() throws {
        for api in APIDescriptor.all {
            let reading = try #require(APIDescriptor.reading(api.key))
            #expect(reading.versions == api.validVersions)
            for version in api.validVersions.lowest...api.validVersions.highest {
                let entry = try #require(reading(version), "\(api.name) v\(version)")
                #expect(entry.request.takeUnretainedValue() === api.request.plan(for: version))
                #expect(entry.response.takeUnretainedValue() === api.response.plan(for: version))
                #expect(entry.requestHeaderVersion == api.requestHeaderVersion(version))
                #expect(entry.responseHeaderVersion == api.responseHeaderVersion(version))
            }
            #expect(reading(api.validVersions.highest + 1) == nil)
            #expect(reading(api.validVersions.lowest - 1) == nil)
        }
        #expect(APIDescriptor.reading(APIKey(rawValue: -1)) == nil)
        #expect(APIDescriptor.reading(APIKey(rawValue: 999)) == nil)
    }
}
