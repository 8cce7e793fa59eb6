extension Array {
    /// Calls `body` with the elements as pointers, so that their fields are read in place: iterating the arrays of
    /// facts copied every entry whole (its topic, its tally), which cost more than lag's own work.
    func withEntries<Result>(_ body: (EntryPointers<Element>) throws -> Result) rethrows -> Result {
        try self.withUnsafeBufferPointer { try body(EntryPointers(buffer: $0)) }
    }
}

/// The elements of a buffer as pointers to them.
struct EntryPointers<Entry>: RandomAccessCollection {
    let buffer: UnsafeBufferPointer<Entry>

    var startIndex: Int { 0 }
    var endIndex: Int { self.buffer.count }

    subscript(position: Int) -> UnsafePointer<Entry> {
        precondition(position >= 0 && position < self.buffer.count)
        return self.buffer.baseAddress! + position
    }
}
