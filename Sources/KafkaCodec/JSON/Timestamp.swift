import Glibc

/// Times (capture or wall clock) as ISO-8601 text in UTC, with microseconds.
package enum Timestamp {
    /// `microseconds` is within `CaptureTime`'s range, so the year has four digits; times before 1970 count
    /// back from the epoch, with the fraction still forward within its second.
    package static func iso8601(microseconds: Int64) -> String {
        let (quotient, remainder) = microseconds.quotientAndRemainder(dividingBy: 1_000_000)
        var seconds = time_t(remainder < 0 ? quotient - 1 : quotient)
        let fraction = remainder < 0 ? remainder + 1_000_000 : remainder
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: some BinaryInteger, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(fraction, 6))Z"
    }
}
