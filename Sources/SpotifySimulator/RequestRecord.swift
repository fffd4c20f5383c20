/// One request as the simulator saw it.
public struct RequestRecord: Sendable {
    /// When the request arrived (before any latency or hang).
    public var time: ContinuousClock.Instant
    /// The path without the query, e.g. `/v1/tracks`, `/v1/tracks/{id}` or `/api/token`.
    public var path: String
    /// The ids asked for, as sent (empty for the token endpoint).
    public var ids: [String]
    /// The status sent, or 0 when no response was sent (``Fault/hang``, ``Fault/dropConnection``).
    public var status: Int
    /// The fault injected into this request, if any.
    public var fault: Fault?

    public init(time: ContinuousClock.Instant, path: String, ids: [String], status: Int, fault: Fault? = nil) {
        self.time = time
        self.path = path
        self.ids = ids
        self.status = status
        self.fault = fault
    }
}
