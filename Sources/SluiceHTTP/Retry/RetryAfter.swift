import Foundation

/// Reads an HTTP `Retry-After` header: delay-seconds (`120`, tolerated with a fraction) or
/// an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`), measured from `now`.
enum RetryAfter {
    /// - Returns: the wait (never negative), or `nil` when the header is absent or unreadable.
    static func parse(_ header: String?, now: Date = Date()) -> Duration? {
        guard let text = header?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let seconds = Double(text), seconds.isFinite {
            return .seconds(max(0, seconds))
        }
        for pattern in datePatterns {
            if let date = formatter(pattern).date(from: text) {
                return .seconds(max(0, date.timeIntervalSince(now).rounded(.up)))
            }
        }
        return nil
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
