/// Everything an ``HTTPFetcher`` needs to know about one HTTP source: where it is, how to
/// ask it for a batch of items, how fast it may be asked, and how hard to try.
///
/// The plan sets every field (the fetch stage builds it); the defaults here are for code that
/// uses ``HTTPFetcher`` directly.
public struct FetchConfiguration: Sendable {
    /// Scheme, host and base path, e.g. `https://api.spotify.com/v1`.
    public var baseURL: String
    public var method: String = "GET"
    /// The batch endpoint below ``baseURL``, e.g. `/tracks`.
    public var path: String
    /// Extra query parameters sent with every request (e.g. `market`), in key order.
    public var query: [String: String] = [:]
    /// Minimum spacing between the starts of two requests, shared by concurrent callers.
    public var delay: Duration?
    /// At most this many request starts in any rolling 60-second window.
    public var ratePerMinute: Int?
    /// How many ``HTTPFetcher/fetch(ids:)`` calls the caller runs at once; each call has at
    /// most one request in flight.
    public var concurrency: Int = 1
    /// Deadline for one request, from sending it to the last byte of the body.
    public var timeout: Duration = .seconds(30)
    /// Attempts after the first for transient failures (5xx, timeouts, dropped connections,
    /// bodies that are not the expected JSON, 429).
    public var retries: Int = 5
    /// Exponential backoff: the ceiling before retry `n` is `min(backoffMax, backoffBase * 2^(n-1))`,
    /// and the wait a uniform draw below it ("full jitter").
    public var backoffBase: Duration = .milliseconds(500)
    public var backoffMax: Duration = .seconds(30)
    /// A `Retry-After` longer than this stops with a resumable ``FetchError`` instead of sleeping.
    public var maxRetryAfter: Duration = .seconds(120)
    /// OAuth2 client credentials; `nil` sends requests without `Authorization`.
    public var auth: OAuth2ClientCredentials?
    /// The key of the response's item array, matched to the requested ids by position.
    public var itemsKey: String
    /// Per-item endpoint used when the batch endpoint answers 403; `{id}` is replaced by the
    /// percent-encoded id. `nil` makes a 403 an error.
    public var fallbackPath: String?
    /// What the plan says about that switch (why an API does it, what it costs), added to the
    /// notice.
    public var fallbackNote: String?
    /// The query parameter carrying the comma-separated ids.
    public var idsParameter: String = "ids"
    /// Most ids in one batch request; longer lists are split.
    public var maxIDs: Int = 50

    public init(baseURL: String, path: String, itemsKey: String, auth: OAuth2ClientCredentials? = nil) {
        self.baseURL = baseURL
        self.path = path
        self.itemsKey = itemsKey
        self.auth = auth
    }
}
