/// The failures seen from the real API in practice (spotify-api.md, "Rate limits and faults").
public enum Fault: String, Sendable, CaseIterable, Codable {
    /// 500 with Spotify's JSON error body.
    case serverError500
    /// 502 with an HTML body, as a proxy in front of the API sends.
    case badGateway502
    /// 503 with an HTML body.
    case unavailable503Html
    /// No response: the request is held until the client gives up (or ``FaultConfiguration/hangLimit``).
    case hang
    /// The connection is closed without any response.
    case dropConnection
    /// A 200 whose body is cut in half; `Content-Length` matches the truncated body, so the
    /// HTTP exchange completes and only JSON decoding fails.
    case truncatedJSON
}
