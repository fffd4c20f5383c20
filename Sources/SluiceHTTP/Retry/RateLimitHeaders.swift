import Foundation

/// What an answer's rate-limit headers say: how many requests the API still allows, and how long
/// until its window resets. Read from the IETF draft's `RateLimit-Remaining` / `RateLimit-Reset`
/// (and its newer single `RateLimit` field), GitHub's `X-RateLimit-*` and Twitter's
/// `X-Rate-Limit-*`. Pure: the time of day comes in as an argument.
struct RateLimitHeaders: Sendable, Equatable {
    /// A wait the API asked for by naming its reset, and the header that named it (for the logs).
    struct Wait: Sendable, Equatable {
        var duration: Duration
        var header: String
    }

    /// Requests left in the current window; `nil` when no header says it readably.
    var remaining: Double?
    /// The wait until the window resets; `nil` when no header says it readably.
    var reset: Wait?

    /// The header families read, the first readable one of each kind winning.
    static let remainingHeaders = ["RateLimit-Remaining", "X-RateLimit-Remaining", "X-Rate-Limit-Remaining"]
    static let resetHeaders = ["RateLimit-Reset", "X-RateLimit-Reset", "X-Rate-Limit-Reset"]

    /// The shortest wait a reset asks for. A reset already past (or `0`) still comes with a spent
    /// limit: the API's clock and ours differ, and an epoch reset is only to the second, so its
    /// window may not have turned yet. A second lets it turn without a burst of refused requests,
    /// and is too short to matter otherwise.
    static let shortestWait = Duration.seconds(1)

    /// A reset over this many seconds is a time (Unix epoch seconds, GitHub's and Twitter's),
    /// under it a number of seconds from now (the IETF draft's, and some APIs' `X-RateLimit-Reset`):
    /// 10^9 seconds is 2001 as a date and 31 years as a wait, so the two cannot be mistaken.
    static let epochThreshold = 1_000_000_000.0
    /// A reset over this many is a time in Unix epoch milliseconds (some APIs' `X-RateLimit-Reset`):
    /// 10^12 milliseconds is 2001, 10^12 seconds some 31,000 years from now.
    static let epochMillisecondsThreshold = 1_000_000_000_000.0

    /// - Parameters:
    ///   - header: the value of the named header, `nil` when absent; names are matched whatever
    ///     their case (HTTP header names are case-insensitive: NIO's `first(name:)` is).
    ///   - now: the time of day an epoch reset is measured from.
    init(header: (String) -> String?, now: Date = Date()) {
        for name in Self.remainingHeaders {
            if let count = header(name).flatMap(Self.number) {
                remaining = count
                break
            }
        }
        for name in Self.resetHeaders {
            if let wait = header(name).flatMap({ Self.wait(untilReset: $0, now: now) }) {
                reset = Wait(duration: wait, header: name)
                break
            }
        }
        guard remaining == nil || reset == nil, let field = header("RateLimit") else { return }
        let (left, resets) = Self.combined(field)
        if remaining == nil { remaining = left }
        if reset == nil, let resets, let wait = Self.wait(untilReset: resets, now: now) {
            reset = Wait(duration: wait, header: "RateLimit")
        }
    }

    /// Whether the API says no request is left in its window.
    var isSpent: Bool { remaining.map { $0 <= 0 } ?? false }

    /// The wait for the reset of a spent limit: the whole host sends nothing until then.
    var spentWait: Wait? { isSpent ? reset : nil }

    /// The wait a throttled answer's reset asks for: its limit is spent, or the headers do not say
    /// what is left. One that says requests are left is throttled by another limit (GitHub's
    /// secondary one, without a `Retry-After`), which this reset, up to an hour off, does not end.
    var throttledWait: Wait? { remaining.map { $0 <= 0 } ?? true ? reset : nil }

    /// The wait a reset value asks for: epoch milliseconds, epoch seconds or seconds from now (see
    /// ``epochThreshold`` and ``epochMillisecondsThreshold``),
    /// at least ``shortestWait``, at most ``RetryAfter/longest``; `nil` for a value that is no number.
    static func wait(untilReset text: String, now: Date) -> Duration? {
        guard let value = number(text) else { return nil }
        let epoch = value > epochMillisecondsThreshold ? value / 1000 : value
        let seconds = value > epochThreshold ? (epoch - now.timeIntervalSince1970).rounded(.up) : value
        if seconds >= RetryAfter.longest.seconds { return RetryAfter.longest }
        return max(shortestWait, .seconds(seconds))
    }

    /// A finite number, spaces around it allowed.
    private static func number(_ text: String) -> Double? {
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite else { return nil }
        return value
    }

    /// The remaining count and reset of a `RateLimit` field: the older drafts' members
    /// (`limit=100, remaining=0, reset=50`) or the newer drafts' policies (`"default";r=0;t=50`,
    /// more than one comma-separated). Of several policies the one that binds is taken: a spent one
    /// with the latest reset, or else the one with the fewest requests left.
    static func combined(_ field: String) -> (remaining: Double?, reset: String?) {
        var items: [(remaining: Double?, reset: String?)] = field.split(separator: ",").map { item in
            var left: Double?
            var reset: String?
            for parameter in item.split(separator: ";") {
                let pair = parameter.split(separator: "=", maxSplits: 1).map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                guard pair.count == 2 else { continue }
                switch pair[0].lowercased() {
                case "r", "remaining": left = left ?? number(pair[1])
                case "t", "reset": reset = reset ?? pair[1]
                default: break
                }
            }
            return (left, reset)
        }
        // The older drafts' members each stand alone between commas: one policy in all.
        if !items.contains(where: { $0.remaining != nil && $0.reset != nil }) {
            items = [(items.lazy.compactMap(\.remaining).first, items.lazy.compactMap(\.reset).first)]
        }
        let spent = items.filter { ($0.remaining ?? 1) <= 0 }
        if !spent.isEmpty {
            return spent.max { (number($0.reset ?? "") ?? 0) < (number($1.reset ?? "") ?? 0) }!
        }
        return items.min { ($0.remaining ?? .infinity) < ($1.remaining ?? .infinity) } ?? (nil, nil)
    }
}
