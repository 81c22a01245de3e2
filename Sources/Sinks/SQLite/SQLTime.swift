import Foundation

/// Times as the schema stores them: integer microseconds since the Unix epoch (UTC), in every table.
///
/// Integers sort, compare and index the same in SQLite and PostgreSQL (`BIGINT`), need no parsing, and
/// keep microsecond precision: a `Date` read back equals the stored one to within a microsecond.
/// Conversions clamp instead of trapping, so no date or duration can crash the process.
enum SQLTime {
    static func micros(_ date: Date) -> Int64 {
        clamp((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    static func date(_ micros: Int64) -> Date {
        Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }

    /// A duration in microseconds, negative durations counting as zero.
    static func micros(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 || seconds > 0 else { return 0 }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
        return overflow ? .max : adding(whole, attoseconds / 1_000_000_000_000)
    }

    /// `time + duration` in microseconds, saturating at the ends of `Int64`.
    static func micros(_ time: Date, plus duration: Duration) -> Int64 {
        adding(micros(time), micros(duration))
    }

    private static func adding(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : sum
    }

    private static func clamp(_ value: Double) -> Int64 {
        guard value.isFinite else { return value > 0 ? .max : (value < 0 ? .min : 0) }
        if value >= 9.2e18 { return .max }
        if value <= -9.2e18 { return .min }
        return Int64(value)
    }
}
