import SluiceCore

/// Spotify's rate limit: a count of admitted requests over a rolling 30-second window.
///
/// Pure state: the caller passes the time, so tests can drive it with instants they make up.
struct RateLimitWindow: Sendable {
    enum Decision: Equatable, Sendable {
        case admit
        /// Answer 429 with `Retry-After: seconds`.
        case reject(retryAfterSeconds: Int)
    }

    static let window: Duration = .seconds(30)

    private(set) var admitted: [ContinuousClock.Instant] = []
    /// The end of the wait announced by the last 429; requests before it are rejected too.
    private(set) var blockedUntil: ContinuousClock.Instant?

    /// Decides whether a request arriving `now` is admitted, and records it if so.
    /// - Parameters:
    ///   - limit: requests per window; `nil` is unlimited.
    ///   - fixedRetryAfter: the wait to announce instead of the time until the window has room.
    ///   - penalize: whether a request during an announced wait doubles the rest of that wait.
    mutating func decide(
        at now: ContinuousClock.Instant, limit: Int?, fixedRetryAfter: Duration?, penalize: Bool
    ) -> Decision {
        guard let limit else {
            admitted.removeAll()
            blockedUntil = nil
            return .admit
        }
        admitted.removeAll { $0 <= now - Self.window }
        if let blockedUntil, now < blockedUntil {
            let remaining = blockedUntil - now
            if penalize {
                self.blockedUntil = blockedUntil + remaining
                return .reject(retryAfterSeconds: Self.wholeSeconds(remaining * 2))
            }
            return .reject(retryAfterSeconds: Self.wholeSeconds(remaining))
        }
        blockedUntil = nil
        if admitted.count < limit {
            admitted.append(now)
            return .admit
        }
        let untilRoom = limit > 0 ? admitted[admitted.count - limit] + Self.window - now : Self.window
        let seconds = Self.wholeSeconds(fixedRetryAfter ?? untilRoom)
        blockedUntil = now + .seconds(seconds)
        return .reject(retryAfterSeconds: seconds)
    }

    /// `Retry-After` carries whole seconds; round up so a client that obeys it is never early, and never send 0.
    static func wholeSeconds(_ duration: Duration) -> Int {
        max(1, duration.wholeSecondsUp)
    }
}
