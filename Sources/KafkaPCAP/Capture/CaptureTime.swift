/// A capture's packet times, as the file states them: data, not truth.
///
/// Merged captures and `tcpdump -i any` go backwards; damaged or crafted files hold times before 1970 or far
/// beyond any clock. Times are kept as microseconds since the epoch within ISO-8601's four-digit years, where any
/// difference of two of them fits an `Int64` and every one of them can be written out.
public enum CaptureTime {
    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, in seconds since the epoch.
    static let earliestSecond: Int64 = -62_135_596_800
    static let latestSecond: Int64 = 253_402_300_799

    /// A packet header's time in microseconds; nil outside years 1 to 9999. `microseconds` may itself be out of
    /// its range (libpcap passes on what the file says) and is carried into the seconds.
    public static func microseconds(seconds: Int64, microseconds: Int64) -> Int64? {
        guard (Self.earliestSecond...Self.latestSecond).contains(seconds),
            (-999_999_999...999_999_999).contains(microseconds)
        else { return nil }
        let total = seconds * 1_000_000 + microseconds  // bounded above: no overflow
        guard (Self.earliestSecond * 1_000_000...Self.latestSecond * 1_000_000 + 999_999).contains(total) else { return nil }
        return total
    }

    /// Microseconds from `start` to `end`, or zero when `end` comes first; both within `microseconds`' range.
    public static func elapsed(from start: Int64, to end: Int64) -> Int64 {
        max(0, end - start)
    }
}
