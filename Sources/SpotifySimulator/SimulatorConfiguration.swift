/// How a ``SpotifySimulator`` behaves; every field can be changed at runtime with
/// ``SpotifySimulator/setConfiguration(_:)`` except `host` and `port`.
public struct SimulatorConfiguration: Sendable {
    /// Address to bind. Keep it on loopback: the simulator has no real security.
    public var host = "127.0.0.1"
    /// Port to bind; 0 picks a free ephemeral port, reported by ``SpotifySimulator/start()``.
    public var port = 0
    /// Seed of the deterministic catalog (which ids exist, their names, popularity, ISRC).
    public var seed: UInt64 = 42
    public var clientID = "sluice-demo-client"
    public var clientSecret = "sluice-demo-secret"
    /// How long an issued access token stays valid; sent as `expires_in` (whole seconds).
    public var tokenLifetime: Duration = .seconds(3600)
    /// Requests per rolling 30-second window; `nil` means unlimited. Counted over
    /// authenticated API requests, not token requests, as Spotify limits per app.
    public var rateLimit: Int? = nil
    /// Fixed `Retry-After` sent on every 429: the rate limit's (`nil`: the time until the window
    /// has room) and an injected ``Fault/tooManyRequests429``'s or
    /// ``Fault/unavailable503WithRetryAfter``'s (`nil`: ``FaultConfiguration/retryAfter``), so a
    /// client can be tried on a long wait either way.
    public var retryAfter: Duration? = nil
    /// Spotify lengthens the wait when a client keeps sending during it (spotipy #1158):
    /// when `true`, each request that arrives during an announced wait doubles what is left of it.
    public var penalizeRequestsDuringWait = false
    /// Added to every `/v1` response (including errors and faults).
    public var latency: Duration = .zero
    /// Added to every token endpoint response: an identity provider slow to answer.
    public var tokenLatency: Duration = .zero
    /// A rate-limited token endpoint: when set, the first token request is answered 429 with this
    /// `Retry-After` (whole seconds), and so is any sent before that wait ends (with what is left of
    /// it); the first one after it, and every later one, is answered as usual.
    public var tokenRetryAfter: Duration? = nil
    /// Spotify's Development Mode (2026): batch endpoint 403, `GET /tracks/{id}` works, no `popularity`.
    public var developmentMode = false
    /// Seeded fault injection on `/v1/tracks` requests.
    public var faults = FaultConfiguration()
    /// Form fields a token request must carry besides `grant_type`, as an identity provider asks
    /// for a `scope` or an `audience`; a request without them gets `invalid_scope`.
    public var requiredTokenFields: [String: String] = [:]
    /// `false`: the token endpoint ignores `Authorization: Basic` and takes the client only from
    /// the form (`client_secret_post`), as some identity providers do.
    public var acceptsBasicCredentials = true

    public init() {}
}
