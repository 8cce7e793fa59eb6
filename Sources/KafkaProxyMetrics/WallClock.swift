import Glibc

/// The wall clock, for what the proxy reports as times of day (the readiness view's first and last sightings).
package enum WallClock {
    package static func microseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1_000
    }
}
