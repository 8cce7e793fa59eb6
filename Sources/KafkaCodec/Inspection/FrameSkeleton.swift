public import NIOCore

/// A large frame followed as it streams through in parts, keeping everything but its record data.
///
/// Produce requests and Fetch responses are mostly record batches. Copying them to decode the frame once whole
/// would cost as much as forwarding them; the skeleton keeps only the structure around the records (topics,
/// partitions, error codes: a few hundred bytes) and counts the batches as they pass. Once the last part is in,
/// it decodes like the whole frame, with empty `records` values and the batch counts alongside.
public struct FrameSkeleton {
    public enum Direction: Sendable {
        case request
        /// A response to a request of this key and version.
        case response(APIKey, Int16)
    }

    private let direction: Direction
    /// The frame so far (after its size prefix), minus the record data cut out.
    private var skeleton = ByteBuffer()
    private let elided = ElidedRecords()
    /// Record data of the current records field still to come.
    private var recordsRemaining = 0
    private var scanner = RecordTallyScanner()
    /// One tally per records field cut out, in wire order.
    private var tallies: [RecordTally] = []
    /// Bytes of the frame after its size prefix, and how many have arrived.
    private let frameLength: Int
    private var received = 0
    /// Skeleton size at which to try decoding again: trying after every part would be quadratic in a frame whose
    /// structure, not its records, is large.
    private var nextProbe = 0
    /// Set once the structure has decoded to its end, or failed other than by running out of bytes: later bytes
    /// are then not kept.
    private var settled: Settled?

    private enum Settled {
        case complete
        case failed(KafkaDecodingError)
    }

    /// Starts with the first part of the frame, size prefix included.
    public init(_ direction: Direction, head: ByteBuffer) {
        self.direction = direction
        var head = head
        self.frameLength = Int(head.readInteger(as: Int32.self) ?? 0)
        self.append(head)
    }

    public mutating func append(_ part: ByteBuffer) {
        part.withUnsafeReadableBytes { self.append($0) }
    }

    /// Takes the next part as raw bytes (a capture's packet payload): record data is only counted, never copied.
    public mutating func append(_ part: UnsafeRawBufferPointer) {
        self.received += part.count
        switch self.settled {
        case .complete?:
            if part.count > 0 {
                self.settled = .failed(KafkaDecodingError(.trailingBytes, offset: self.received, "bytes after the message"))
            }
            return
        case .failed?:
            return
        case nil:
            break
        }
        var index = 0
        while index < part.count {
            if self.recordsRemaining > 0 {
                let step = min(self.recordsRemaining, part.count - index)
                self.passRecords(UnsafeRawBufferPointer(rebasing: part[index..<(index + step)]))
                index += step
                continue
            }
            self.skeleton.writeBytes(UnsafeRawBufferPointer(rebasing: part[index...]))
            index = part.count
            if self.skeleton.readableBytes >= self.nextProbe || self.received >= self.frameLength { self.cutRecordsOut() }
        }
    }

    /// Decodes the structure to find where record data starts, and moves it from the skeleton to the scanner.
    private mutating func cutRecordsOut() {
        while self.recordsRemaining == 0 {
            self.elided.found = nil
            do {
                try self.decode()
                self.settled = .complete
                return
            } catch {
                guard let (offset, length) = self.elided.found else {
                    // Until the last byte is in, a count larger than what has arrived is not yet an error.
                    if error.code == .trailingBytes || self.received >= self.frameLength {
                        self.settled = .failed(error)
                    } else {
                        self.nextProbe = max(self.skeleton.readableBytes + 4096, self.skeleton.readableBytes * 2)
                    }
                    return
                }
                self.cutOut(offset: offset, length: length)
            }
        }
    }

    /// Moves a records field's data, as much as has arrived, from the skeleton to the scanner.
    private mutating func cutOut(offset: Int, length: Int) {
        let start = self.skeleton.readerIndex + offset
        let present = min(length, self.skeleton.writerIndex - start)
        let trailing = self.skeleton.getSlice(at: start + present, length: self.skeleton.writerIndex - start - present)!
        self.recordsRemaining = length
        self.skeleton.getSlice(at: start, length: present)!.withUnsafeReadableBytes { self.passRecords($0) }
        self.elided.offsets.insert(offset)
        self.skeleton.moveWriterIndex(to: start)
        self.skeleton.writeImmutableBuffer(trailing)  // structure after the records, if it arrived with them
        self.nextProbe = 0
    }

    private mutating func passRecords(_ bytes: UnsafeRawBufferPointer) {
        self.scanner.feed(bytes)
        self.recordsRemaining -= bytes.count
        if self.recordsRemaining == 0 {
            self.tallies.append(self.scanner.tally)
            self.scanner = RecordTallyScanner()
        }
    }

    /// What the frame says, as `KafkaCodec.inspectRequest` reads it from a whole frame, with the counts taken of
    /// its records as they passed; nil facts beyond the schemas.
    public func inspectRequest(listingTopics: Bool = true) throws(KafkaDecodingError) -> (clientID: ByteBuffer?, facts: MessageFacts?) {
        if case .failed(let error)? = self.settled { throw error }
        let read = try KafkaCodec.inspectRequest(self.skeleton, listingTopics: listingTopics, elided: self.elidedTallies)
        return (read.clientID, read.facts)
    }

    /// What the frame says, as `KafkaCodec.inspectResponse` reads it from a whole frame.
    public func inspectResponse(listingTopics: Bool = true) throws(KafkaDecodingError) -> MessageFacts? {
        if case .failed(let error)? = self.settled { throw error }
        guard case .response(let key, let version) = self.direction else {
            throw KafkaDecodingError(.truncated, offset: 0, "the skeleton is of a request")
        }
        return try KafkaCodec.inspectResponse(
            self.skeleton, apiKey: key, apiVersion: version, listingTopics: listingTopics, elided: self.elidedTallies)
    }

    private var elidedTallies: ElidedTallies {
        ElidedTallies(offsets: self.elided.offsets.sorted(), tallies: self.tallies)
    }

    public func decodeRequest() throws(KafkaDecodingError) -> DecodedFrame<KafkaRequest> {
        if case .failed(let error)? = self.settled { throw error }
        return try KafkaCodec.decodeRequest(self.skeleton, origin: self.skeleton.readerIndex, elided: self.elided)
    }

    public func decodeResponse() throws(KafkaDecodingError) -> DecodedFrame<KafkaResponse> {
        if case .failed(let error)? = self.settled { throw error }
        guard case .response(let key, let version) = self.direction else {
            throw KafkaDecodingError(.truncated, offset: 0, "the skeleton is of a request")
        }
        return try KafkaCodec.decodeResponse(
            self.skeleton, apiKey: key, apiVersion: version, origin: self.skeleton.readerIndex, elided: self.elided)
    }

    private func decode() throws(KafkaDecodingError) {
        switch self.direction {
        case .request: _ = try self.decodeRequest()
        case .response: _ = try self.decodeResponse()
        }
    }
}
