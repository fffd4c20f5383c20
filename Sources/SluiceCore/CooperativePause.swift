/// Lets a long computation on Swift's cooperative pool give its thread up every few
/// milliseconds (`await pause.yieldIfDue()` in the loop), so that the pool's other tasks
/// (one thread per core: two on our machines) keep their timing while it runs.
public struct CooperativePause: Sendable {
    public let every: Duration
    private var last = ContinuousClock.now

    public init(every: Duration = .milliseconds(5)) {
        self.every = every
    }

    /// Yields once `every` has passed since the last yield; otherwise returns at once.
    public mutating func yieldIfDue() async {
        let now = ContinuousClock.now
        guard now - last >= every else { return }
        await Task.yield()
        last = .now
    }
}
