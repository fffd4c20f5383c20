/// Any `Clock<Duration>` seen as offsets from the moment it was wrapped, so that a
/// non-generic type (``HTTPFetcher``) can hold the clock its caller injected.
struct AnyDurationClock: Clock {
    struct Instant: InstantProtocol {
        typealias Duration = Swift.Duration
        /// Time since the clock was wrapped.
        var offset: Duration

        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private let readNow: @Sendable () -> Duration
    private let sleepUntil: @Sendable (Duration) async throws -> Void
    let minimumResolution: Duration

    init<Base: Clock<Duration>>(_ base: Base) {
        let origin = base.now
        readNow = { origin.duration(to: base.now) }
        sleepUntil = { try await base.sleep(until: origin.advanced(by: $0), tolerance: nil) }
        minimumResolution = base.minimumResolution
    }

    var now: Instant { Instant(offset: readNow()) }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        try await sleepUntil(deadline.offset)
    }
}
