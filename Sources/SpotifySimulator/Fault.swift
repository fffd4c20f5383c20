/// The failures seen from the real API in practice (spotify-api.md, "Rate limits and faults").
public enum Fault: String, Sendable, CaseIterable, Codable {
    /// 500 with Spotify's JSON error body.
    case serverError500
    /// 502 with an HTML body, as a proxy in front of the API sends.
    case badGateway502
    /// 503 with an HTML body.
    case unavailable503Html
    /// 503 with Spotify's JSON error body and a `Retry-After` (as ``tooManyRequests429``'s): the
    /// service down for a while, saying for how long.
    case unavailable503WithRetryAfter
    /// No response: the request is held until the client gives up (or ``FaultConfiguration/hangLimit``).
    case hang
    /// The connection is closed without any response.
    case dropConnection
    /// A 200 whose body is cut in half; `Content-Length` matches the truncated body, so the
    /// HTTP exchange completes and only JSON decoding fails.
    case truncatedJSON
    /// 429 with `Retry-After` of ``SimulatorConfiguration/retryAfter`` if set, else of
    /// ``FaultConfiguration/retryAfter``, whatever the rate limit says:
    /// a short wait on demand, without filling a 30-second window first.
    case tooManyRequests429
    /// 429 without a `Retry-After` header, as a proxy or load balancer in front of an API may send.
    case tooManyRequests429WithoutRetryAfter
    /// A 200 for several tracks whose `tracks` array lacks its first element: one item fewer than
    /// the ids asked for, every item one position early. A client that matches by position
    /// without counting attaches each track to the wrong id. Only ever given to such a 200: a
    /// scheduled one waits for it, a drawn one for another answer is no fault.
    case wrongTrackCount

    /// What ``FaultConfiguration/kinds`` draws from by default: server and transport failures.
    /// The 429s and the wrong count are there to be asked for (``SpotifySimulator/scheduleFaults(_:)``),
    /// so that adding them changed no seeded sequence drawn before.
    public static let drawnByDefault: [Fault] = [
        .serverError500, .badGateway502, .unavailable503Html, .hang, .dropConnection, .truncatedJSON,
    ]
}
