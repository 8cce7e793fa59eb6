import KafkaCodec
import Testing

@testable import KafkaPCAP

/// Capture times are data: out-of-range ones are refused rather than overflowed, times before 1970 print, and
/// elapsed time never goes negative.
@Suite struct CaptureTimeTests {
    @Test func timesOutsideFourDigitYearsAreRefused() {
        #expect(CaptureTime.microseconds(seconds: 1_764_000_000, microseconds: 5) == 1_764_000_000_000_005)
        #expect(CaptureTime.microseconds(seconds: Int64.max, microseconds: 0) == nil)
        #expect(CaptureTime.microseconds(seconds: Int64.min, microseconds: 0) == nil)
        #expect(CaptureTime.microseconds(seconds: 253_402_300_800, microseconds: 0) == nil, "year 10000")
        #expect(CaptureTime.microseconds(seconds: 0, microseconds: Int64.max) == nil)
        #expect(CaptureTime.microseconds(seconds: -1, microseconds: 0) == -1_000_000)
    }

    @Test func timesBefore1970AndAtTheEdgesPrint() {
        #expect(Timestamp.iso8601(microseconds: -1) == "1969-12-31T23:59:59.999999Z")
        #expect(Timestamp.iso8601(microseconds: -1_000_000) == "1969-12-31T23:59:59.000000Z")
        #expect(Timestamp.iso8601(microseconds: 0) == "1970-01-01T00:00:00.000000Z")
        let earliest = CaptureTime.microseconds(seconds: CaptureTime.earliestSecond, microseconds: 0)!
        let latest = CaptureTime.microseconds(seconds: CaptureTime.latestSecond, microseconds: 999_999)!
        #expect(Timestamp.iso8601(microseconds: earliest) == "0001-01-01T00:00:00.000000Z")
        #expect(Timestamp.iso8601(microseconds: latest) == "9999-12-31T23:59:59.999999Z")
    }

    @Test func elapsedTimeClampsAtZeroAcrossTheWholeRange() {
        let earliest = CaptureTime.earliestSecond * 1_000_000
        let latest = CaptureTime.latestSecond * 1_000_000
        #expect(CaptureTime.elapsed(from: latest, to: earliest) == 0)
        #expect(CaptureTime.elapsed(from: earliest, to: latest) == latest - earliest)
    }
}
