import Synchronization

/// Hands out 0, 1, 2, ... to whichever task asks next: tasks sharing out a list of work items
/// by index (the next verify check, the next batch of a benchmark's client).
public final class TakeANumber: Sendable {
    private let next = Atomic<Int>(0)

    public init() {}

    /// The next number; each is handed out once.
    public func take() -> Int { next.add(1, ordering: .relaxed).oldValue }
}
