/// A snapshot of what the simulator has served, for tests and the `/_sim/stats` endpoint.
public struct SimulatorStats: Sendable {
    /// Requests to the token endpoint.
    public var tokenRequests: Int = 0
    /// Requests to `/v1/...`, whatever their outcome.
    public var apiRequests: Int = 0
    /// `/v1` requests answered 429.
    public var rateLimited: Int = 0
    /// `/v1` requests that got a fault instead of their answer.
    public var faultsInjected: Int = 0
    /// Every token and `/v1` request in arrival order (admin requests are not logged).
    public var requestLog: [RequestRecord] = []

    public init() {}
}
