import Glibc

/// Times (capture or wall clock) as ISO-8601 text in UTC, with microseconds.
package enum Timestamp {
    /// `microseconds` is within `CaptureTime`'s range, so the year has four digits; times before 1970 count
    /// back from the epoch, with the fraction still forward within its second.
    package static func iso8601(microseconds: Int64) -> String {
        let (quotient, remainder) = microseconds.quotientAndRemainder(dividingBy: 1_000_000)
        var seconds = time_t(remainder < 0 ? quotient - 1 : quotient)
        let fraction = Int(remainder < 0 ? remainder + 1_000_000 : remainder)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // Digits written in place: this runs for every line of the exchange log.
        return String(unsafeUninitializedCapacity: 27) { text in
            var end = 0
            func put(_ value: Int, width: Int, then separator: Character) {
                var value = value
                for position in stride(from: end + width - 1, through: end, by: -1) {
                    text[position] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                text[end + width] = separator.asciiValue!
                end += width + 1
            }
            put(Int(parts.tm_year) + 1900, width: 4, then: "-")
            put(Int(parts.tm_mon) + 1, width: 2, then: "-")
            put(Int(parts.tm_mday), width: 2, then: "T")
            put(Int(parts.tm_hour), width: 2, then: ":")
            put(Int(parts.tm_min), width: 2, then: ":")
            put(Int(parts.tm_sec), width: 2, then: ".")
            put(fraction, width: 6, then: "Z")
            return end
        }
    }
}
