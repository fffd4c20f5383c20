/// Seeded fault injection: which faults, how often, and from which random sequence.
///
/// One draw is made per `/v1/tracks` request that passes authentication and the rate limit,
/// in arrival order, so a given seed and request sequence always injects the same faults.
/// Faults scheduled with ``SpotifySimulator/scheduleFaults(_:)`` come first, without a draw.
public struct FaultConfiguration: Sendable {
    /// Probability (0...1) that such a request gets a fault instead of its normal answer.
    public var rate: Double = 0
    /// Which faults to draw from, uniformly.
    public var kinds: [Fault] = Fault.drawnByDefault
    public var seed: UInt64 = 7
    /// How long a ``Fault/hang`` holds a request before dropping the connection, so that
    /// nothing hangs forever when a client has no timeout.
    public var hangLimit: Duration = .seconds(120)
    /// The `Retry-After` of a ``Fault/tooManyRequests429`` or ``Fault/unavailable503WithRetryAfter``,
    /// sent in whole seconds (rounded up, at least 1), unless ``SimulatorConfiguration/retryAfter``
    /// fixes every 429's (and those 503s').
    public var retryAfter: Duration = .seconds(1)

    public init() {}
}
