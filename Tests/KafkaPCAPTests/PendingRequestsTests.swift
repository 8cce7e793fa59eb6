import KafkaCodec
import Testing

@testable import KafkaPCAP

@Suite struct PendingRequestsTests {
    /// Pending requests with slots counted up from 0, as `TrackedConnection.claimSlot` gives them.
    private struct Pending {
        var requests = PendingRequests()
        var nextSlot: Int32 = 0

        mutating func add(_ correlationID: Int32, packet: Int) -> Int32 {
            let header = RequestHeaderPrefix(apiKey: .produce, apiVersion: 9, correlationID: correlationID)
            var next = self.nextSlot
            defer { self.nextSlot = next }
            return self.requests.add(header, timestamp: Int64(packet), packet: packet) {
                next += 1
                return next - 1
            }
        }
    }

    @Test func responsesPairInOrderAndOutOfOrder() {
        var pending = Pending()
        for id in 1...5 { #expect(pending.add(Int32(id), packet: id) == Int32(id - 1)) }
        #expect(pending.requests.remove(1)?.slot == 0)
        #expect(pending.requests.remove(4)?.slot == 3, "a response out of order still finds its request")
        #expect(pending.requests.remove(4) == nil, "answered once")
        #expect(pending.requests.remove(99) == nil)
        #expect(pending.requests.count == 3)
        #expect(pending.requests.find(2)?.packet == 2)
    }

    @Test func aRepeatedCorrelationIDTakesThePlaceAndSlotOfTheOldRequest() {
        var pending = Pending()
        _ = pending.add(7, packet: 1)
        _ = pending.add(8, packet: 2)
        #expect(pending.add(7, packet: 3) == 0)
        #expect(pending.requests.count == 2)
        #expect(pending.requests.find(7)?.packet == 3)
        #expect(pending.nextSlot == 2, "no slot was claimed for the repeat")
    }

    @Test func idsBelowTheLargestPendingAreStillSearched() {
        // A client whose ids wrapped around, or went down: the shortcut for rising ids must not hide a repeat.
        var pending = Pending()
        _ = pending.add(Int32.max, packet: 1)
        _ = pending.add(Int32.min, packet: 2)
        #expect(pending.add(Int32.max, packet: 3) == 0)
        #expect(pending.add(Int32.min, packet: 4) == 1)
        #expect(pending.requests.count == 2)
        // Once nothing is pending, ids start over.
        _ = pending.requests.remove(Int32.max)
        _ = pending.requests.remove(Int32.min)
        #expect(pending.add(5, packet: 5) == 2)
        #expect(pending.add(5, packet: 6) == 2)
    }

    @Test func theOldestIsTheOneCapturedFirst() {
        var pending = Pending()
        _ = pending.add(1, packet: 10)
        _ = pending.add(2, packet: 11)
        _ = pending.add(1, packet: 12)  // a repeat moves to the back, captured last
        #expect(pending.requests.removeOldest()?.header.correlationID == 2)
        #expect(pending.requests.removeOldest()?.header.correlationID == 1)
        #expect(pending.requests.removeOldest() == nil)
    }
}
