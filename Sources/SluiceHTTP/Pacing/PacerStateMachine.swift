/// Decides when the next request to a host may start: no earlier than `spacing` after the
/// previous start, no more than `limit` starts in any rolling `window`, and not at all while
/// the host has told us to wait (`Retry-After`). Pure: time comes in as an argument.
struct PacerStateMachine<Instant: InstantProtocol> where Instant.Duration == Duration {
    enum Decision: Equatable {
        /// Start now; the start has been recorded.
        case start
        /// Ask again at `until`. `blocked` is true when a host-wide wait is the reason.
        case wait(until: Instant, blocked: Bool)
    }

    let rules: PacingRules
    private(set) var lastStart: Instant?
    /// Starts inside the current window, oldest first (at most `limit` of them are kept).
    private(set) var recentStarts: [Instant] = []
    /// Nothing may start before this instant.
    private(set) var blockedUntil: Instant?

    init(rules: PacingRules) {
        self.rules = rules
    }

    /// Either records a start at `now` or says how long to wait.
    mutating func requestStart(at now: Instant) -> Decision {
        if let blockedUntil {
            if now < blockedUntil { return .wait(until: blockedUntil, blocked: true) }
            self.blockedUntil = nil
        }
        var earliest = now
        if let spacing = rules.spacing, let lastStart {
            earliest = max(earliest, lastStart.advanced(by: spacing))
        }
        if let limit = rules.limit {
            let window = rules.window
            recentStarts.removeAll { $0.advanced(by: window) <= now }
            if recentStarts.count >= limit {
                earliest = max(earliest, recentStarts[recentStarts.count - limit].advanced(by: window))
            }
        }
        guard earliest <= now else { return .wait(until: earliest, blocked: false) }
        lastStart = now
        if let limit = rules.limit {
            recentStarts.append(now)
            if recentStarts.count > limit { recentStarts.removeFirst(recentStarts.count - limit) }
        }
        return .start
    }

    /// Stops every start until `instant` (a later block wins over an earlier one).
    mutating func block(until instant: Instant) {
        blockedUntil = max(blockedUntil ?? instant, instant)
    }
}
