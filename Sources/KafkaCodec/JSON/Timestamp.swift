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
        let fields: [(value: Int, width: Int, then: UInt8?)] = [
            (Int(parts.tm_year) + 1900, 4, UInt8(ascii: "-")), (Int(parts.tm_mon) + 1, 2, UInt8(ascii: "-")),
            (Int(parts.tm_mday), 2, UInt8(ascii: "T")), (Int(parts.tm_hour), 2, UInt8(ascii: ":")),
            (Int(parts.tm_min), 2, UInt8(ascii: ":")), (Int(parts.tm_sec), 2, UInt8(ascii: ".")), (fraction, 6, UInt8(ascii: "Z")),
        ]
        return String(unsafeUninitializedCapacity: 27) { text in
            var end = 0
            for field in fields {
                var value = field.value
                for position in stride(from: end + field.width - 1, through: end, by: -1) {
                    text[position] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                end += field.width
                if let separator = field.then {
                    text[end] = separator
                    end += 1
                }
            }
            return end
        }
    }
}
