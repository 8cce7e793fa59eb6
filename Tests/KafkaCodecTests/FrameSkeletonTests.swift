import Foundation
import KafkaCodec
import KafkaTestSupport
import NIOCore
import Testing

/// A frame followed part by part must say what the whole frame says, without keeping its records.
@Suite struct FrameSkeletonTests {
    @Test(arguments: [1, 7, 61, 1000, 65536])
    func recordedFramesInPartsGiveTheSameFactsAsWhole(partSize: Int) throws {
        var compared = 0
        for frame in try Fixtures.all {
            var parts = frame.bytes
            var skeleton: FrameSkeleton?
            let direction: FrameSkeleton.Direction
            switch frame.kind {
            case .request: direction = .request
            case .response(let key, let version): direction = .response(key, version)
            }
            while parts.readableBytes > 0 {
                let part = parts.readSlice(length: min(max(partSize, skeleton == nil ? 8 : 1), parts.readableBytes))!
                if skeleton == nil { skeleton = FrameSkeleton(direction, head: part) } else { skeleton!.append(part) }
            }
            let followed = try #require(skeleton)
            switch frame.kind {
            case .request:
                let whole = try KafkaCodec.inspectRequest(frame.payload)
                let skeletal = try followed.inspectRequest()
                guard let wholeFacts = whole.facts else { continue }
                try Self.expectSameFacts(wholeFacts, try #require(skeletal.facts), frame)
                #expect(skeletal.clientID == whole.clientID, "\(frame)")
            case .response(let key, let version):
                guard let whole = try KafkaCodec.inspectResponse(frame.payload, apiKey: key, apiVersion: version) else { continue }
                try Self.expectSameFacts(whole, try #require(try followed.inspectResponse()), frame)
            }
            compared += 1
        }
        #expect(compared > 200)
    }

    @Test func aTruncatedSkeletonFailsLikeTheTruncatedFrame() throws {
        let frame = try #require(try Fixtures.frames("kafka-python").first { frame in
            if case .request = frame.kind { return KafkaCodec.peekRequestHeader(frame.payload)?.apiKey == .produce }
            return false
        })
        let cut = frame.bytes.getSlice(at: frame.bytes.readerIndex, length: frame.bytes.readableBytes - 10)!
        let skeleton = FrameSkeleton(.request, head: cut)
        #expect(throws: KafkaDecodingError.self) { try skeleton.decodeRequest() }
    }

    private static func expectSameFacts(_ whole: MessageFacts, _ skeletal: MessageFacts, _ frame: Fixtures.Frame) throws {
        #expect(whole.errors == skeletal.errors, "\(frame)")
        #expect(whole.throttleMilliseconds == skeletal.throttleMilliseconds, "\(frame)")
        #expect(whole.topicNames == skeletal.topicNames, "\(frame)")
        #expect(whole.topics == skeletal.topics, "\(frame)")
        #expect(whole.records == skeletal.records, "\(frame)")
        #expect(whole.groups == skeletal.groups, "\(frame)")
        #expect(whole.members == skeletal.members, "\(frame)")
        #expect(whole.offsets == skeletal.offsets, "\(frame)")
        #expect(whole.memberEpoch == skeletal.memberEpoch, "\(frame)")
    }
}

/// A frame whose structure ends long before its length says must not be held whole while it streams through.
@Suite struct FrameSkeletonBoundsTests {
    @Test func bytesAfterAFinishedStructureAreNotKeptAndFailTheDecode() throws {
        // A Fetch v4 response announcing 48 MiB, whose body is an empty response list followed by zeros.
        let length = 48 << 20
        var head = ByteBuffer()
        head.writeInteger(Int32(length))
        head.writeInteger(Int32(77))
        head.writeRepeatingByte(0, count: 4096 - 8)
        var skeleton = FrameSkeleton(.response(.fetch, 4), head: head)
        let part = ByteBuffer(repeating: 0, count: 65536)
        var sent = head.readableBytes - 4
        while sent < length {
            let slice = part.getSlice(at: 0, length: min(65536, length - sent))!
            skeleton.append(slice)
            sent += slice.readableBytes
        }
        let error = #expect(throws: KafkaDecodingError.self) { try skeleton.decodeResponse() }
        #expect(error?.code == .trailingBytes)
    }
}

/// Facts straight from the bytes, for every recorded frame.
@Suite struct FactReaderTests {
    /// Reading facts checks a frame as decoding does: one reads what the other decodes, and the client id agrees.
    @Test func factsAreReadFromWhatDecodes() throws {
        var compared = 0
        for frame in try Fixtures.all {
            switch frame.kind {
            case .request:
                guard case .message(let whole) = try KafkaCodec.decodeRequest(frame.payload) else { continue }
                let read = try KafkaCodec.inspectRequest(frame.payload)
                #expect(read.facts != nil, "\(frame)")
                #expect(read.clientID.map { String(buffer: $0) } == whole.clientID, "\(frame)")
            case .response(let key, let version):
                guard case .message = try KafkaCodec.decodeResponse(frame.payload, apiKey: key, apiVersion: version) else { continue }
                #expect(try KafkaCodec.inspectResponse(frame.payload, apiKey: key, apiVersion: version) != nil, "\(frame)")
            }
            compared += 1
        }
        #expect(compared > 200)
    }

    @Test func withoutTheTopicListTheOtherFactsAreTheSame() throws {
        var listed = 0
        for frame in try Fixtures.all {
            let full: MessageFacts?
            let lean: MessageFacts?
            switch frame.kind {
            case .request:
                full = try KafkaCodec.inspectRequest(frame.payload).facts
                lean = try KafkaCodec.inspectRequest(frame.payload, listingTopics: false).facts
            case .response(let key, let version):
                full = try KafkaCodec.inspectResponse(frame.payload, apiKey: key, apiVersion: version)
                lean = try KafkaCodec.inspectResponse(frame.payload, apiKey: key, apiVersion: version, listingTopics: false)
            }
            guard let full, let lean else { continue }
            if !full.topics.isEmpty { listed += 1 }
            #expect(lean.topics.isEmpty, "\(frame)")
            #expect(lean.errors == full.errors && lean.records == full.records && lean.topicNames == full.topicNames, "\(frame)")
            #expect(lean.throttleMilliseconds == full.throttleMilliseconds, "\(frame)")
        }
        #expect(listed > 50, "frames that name topics were compared")
    }

    /// Found by the codec fuzzer: a known tagged field whose content is malformed though its size is not.
    @Test func aMalformedTaggedFieldFailsAsDecodingFails() throws {
        let url = Fixtures.directory.appendingPathComponent("fuzz-findings/fetch-v18-response-bad-tagged-rack.hex")
        let hex = try String(contentsOf: url, encoding: .utf8).filter(\.isHexDigit)
        let bytes = stride(from: 0, to: hex.count, by: 2).map { offset -> UInt8 in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
        }
        let payload = ByteBuffer(bytes: bytes.dropFirst(4))
        #expect(throws: KafkaDecodingError.self) { try KafkaCodec.decodeResponse(payload, apiKey: .fetch, apiVersion: 18) }
        let error = #expect(throws: KafkaDecodingError.self) {
            try KafkaCodec.inspectResponse(payload, apiKey: .fetch, apiVersion: 18)
        }
        #expect(error?.code == .truncated)
    }

    @Test func aTruncatedFrameFailsAsDecodingFails() throws {
        for frame in try Fixtures.frames("kafka-python").prefix(20) {
            guard case .request = frame.kind else { continue }
            let cut = frame.payload.getSlice(at: frame.payload.readerIndex, length: frame.payload.readableBytes - 1)!
            #expect(throws: KafkaDecodingError.self) { try KafkaCodec.inspectRequest(cut) }
        }
    }
}
