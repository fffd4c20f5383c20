import Foundation

/// What a fetcher has done so far, for the run manifest and benchmarks.
public struct FetchCounters: Sendable, Equatable {
    /// HTTP requests to the API (not to the token endpoint), retries included.
    public var requests = 0
    /// Requests that repeated an earlier one after a transient failure or a 429.
    public var retries = 0
    /// 429 answers.
    public var rateLimited = 0
    /// Answers that said "slow down": 429s and the configuration's `throttleStatuses`.
    public var throttled = 0
    /// Sleeps for a `Retry-After` or a backoff, and their total length.
    public var waits = 0
    public var waitSeconds: Double = 0
    /// Time spent waiting for a turn under `delay` or `rate`; a `Retry-After` is in
    /// ``waitSeconds`` instead.
    public var pacedSeconds: Double = 0
    /// Response body bytes received from the API.
    public var bytes = 0
    /// Requests to the token endpoint, and how many of them replaced an earlier token.
    public var tokenRequests = 0
    public var tokenRefreshes = 0
    /// Per-item requests sent because the batch endpoint was forbidden.
    public var fallbackRequests = 0
    /// Requests sent to isolate the ids that made a whole batch fail with 400.
    public var narrowedRequests = 0
    /// Pages of a per-item request's list read after its first (``FetchConfiguration/paginate``).
    public var pages = 0
    /// Paged lists asked again from their first page because a later page was not found (404,
    /// 410, `not_found_when`): the list moved while it was read.
    public var listsAskedAgain = 0
    /// Redirects followed to another address on the connection's own origin (a GET's 3xx).
    public var redirects = 0
    /// Requests that ran past their deadline.
    public var timeouts = 0
    /// Ids rejected because the API answered their request with a 5xx after every retry
    /// (``FetchConfiguration/rejectOnGiveUp``).
    public var gaveUp = 0
    /// The requests whose ids ``gaveUp`` counts.
    public var gaveUpRequests = 0
    /// The latest wait for a `Retry-After` or a retry's backoff: why, and when it ends.
    public var waiting: Waiting?
    /// When the latest wait a server asked for (`Retry-After`, the API's or its token endpoint's)
    /// ends, as the time it gave: a fetch that stops sooner may not go on before it.
    public var retryAfterEnds: Date?
    /// When the request that has waited longest for its answer was sent; `nil` when none waits.
    public var oldestUnanswered: ContinuousClock.Instant?
    /// When the access token request waiting for its answer was sent; `nil` when none waits.
    public var tokenUnansweredSince: ContinuousClock.Instant?

    /// A wait the run is in, for progress to say why nothing moves.
    public struct Waiting: Sendable, Equatable {
        public var reason: String
        public var ends: ContinuousClock.Instant
    }

    public init() {}

    /// Moves ``retryAfterEnds`` to `wait` from now, unless an earlier wait ends later.
    mutating func noteRetryAfter(_ wait: Duration) {
        let ends = Date().addingTimeInterval(wait.seconds)
        retryAfterEnds = max(retryAfterEnds ?? ends, ends)
    }
}
