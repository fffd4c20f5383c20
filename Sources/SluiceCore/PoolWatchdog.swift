/// Notices when Swift's cooperative pool was blocked: a task that asks to wake up every
/// `interval` and measures how late it actually runs.
///
/// A wake-up is late by about the time every cooperative thread was busy: a call that blocks
/// one of them (see ``BlockingIO``) or long computation without a suspension point. Debug
/// builds of `sluice` run one during every pipeline and warn on stderr; the end-to-end tests
/// fail on that warning, so a blocking call that slips into the product is seen.
public enum PoolWatchdog {
    /// The warning's fixed start, for tests that look for it.
    public static let warningPrefix = "sluice: warning: the cooperative thread pool was blocked for"

    /// Wakes every `interval` until the task is cancelled, calling `report` with the lateness of
    /// each wake-up later than `threshold`.
    public static func watch(
        interval: Duration = .milliseconds(100), threshold: Duration = .seconds(1),
        report: @Sendable (Duration) -> Void
    ) async {
        let clock = ContinuousClock()
        while !Task.isCancelled {
            let deadline = clock.now + interval
            do { try await clock.sleep(until: deadline, tolerance: nil) } catch { return }
            let lag = clock.now - deadline
            if lag > threshold { report(lag) }
        }
    }

    /// The warning for a wake-up `lag` late.
    public static func warning(lag: Duration) -> String {
        let text = (lag.seconds * 10).rounded() / 10
        return "\(warningPrefix) \(text) s: something ran a blocking call (or long computation) on it, "
            + "holding up every task (pacing, timeouts, progress); please report this"
    }
}
