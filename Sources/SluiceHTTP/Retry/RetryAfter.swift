import Foundation

/// Reads an HTTP `Retry-After` header: delay-seconds (`120`, tolerated with a fraction) or
/// an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`), measured from `now`.
enum RetryAfter {
    /// The longest wait an answer is taken to ask for: more than `max_retry_after` may be set to,
    /// so a longer one stops the run as any wait over it does, and short enough that the wait,
    /// the time it ends and the manifest's date of it stay representable (a header of
    /// `99999999999999999999` seconds, or year 9999, would overflow them).
    static let longest = Duration.seconds(30 * 86_400)

    /// - Returns: the wait (never negative, at most ``longest``), or `nil` when the header is
    ///   absent or unreadable.
    static func parse(_ header: String?, now: Date = Date()) -> Duration? {
        guard let text = header?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let seconds = Double(text), !seconds.isNaN {
            return clamped(seconds)
        }
        for pattern in datePatterns {
            if let date = formatter(pattern).date(from: text) {
                return clamped(date.timeIntervalSince(now).rounded(.up))
            }
        }
        return nil
    }

    private static func clamped(_ seconds: Double) -> Duration {
        seconds >= longest.seconds ? longest : .seconds(max(0, seconds))
    }

    /// IMF-fixdate, then the obsolete RFC 850 and asctime forms that RFC 9110 says to accept.
    private static let datePatterns = [
        "EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy",
    ]

    /// A fresh formatter each time: `DateFormatter` is not `Sendable`, and a 429 is rare.
    private static func formatter(_ pattern: String) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = pattern
        return formatter
    }
}
