import Foundation

/// A clock for tests: time only moves when the test says so (``advance(by:)``), or, with
/// `autoAdvance`, jumps straight to each sleeper's deadline (for one sequential caller).
final class TestClock: Clock, @unchecked Sendable {
    // @unchecked: every mutable field is only touched under `lock`.
    struct Instant: InstantProtocol, CustomStringConvertible {
        typealias Duration = Swift.Duration
        var offset: Duration

        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
        var description: String { "t+\(offset)" }
    }

    private struct Sleeper {
        var id: Int
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private let lock = NSLock()
    private var current = Instant(offset: .zero)
    private var sleepers: [Sleeper] = []
    private var cancelled: Set<Int> = []
    private var nextID = 0
    let autoAdvance: Bool

    init(autoAdvance: Bool = false) {
        self.autoAdvance = autoAdvance
    }

    var now: Instant { lock.withLock { current } }
    var minimumResolution: Duration { .zero }
    var sleeperCount: Int { lock.withLock { sleepers.count } }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        try Task.checkCancellation()
        if autoAdvance {
            lock.withLock { current = max(current, deadline) }
            await Task.yield()
            try Task.checkCancellation()
            return
        }
        let id = lock.withLock {
            nextID += 1
            return nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = lock.withLock {
                    if cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if current >= deadline { return .success(()) }
                    sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let sleeper: Sleeper? = lock.withLock {
                guard let index = sleepers.firstIndex(where: { $0.id == id }) else {
                    cancelled.insert(id)
                    return nil
                }
                return sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline has come.
    func advance(by duration: Duration) {
        let due: [Sleeper] = lock.withLock {
            current = current.advanced(by: duration)
            let due = sleepers.filter { $0.deadline <= current }
            sleepers.removeAll { $0.deadline <= current }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Moves time to the earliest deadline anyone sleeps until.
    func advanceToNextDeadline() {
        let next = lock.withLock { sleepers.map(\.deadline).min() }
        if let next { advance(by: now.duration(to: next)) }
    }

    /// Waits (in real time, briefly) until `count` tasks sleep on this clock.
    func waitForSleepers(_ count: Int) async throws {
        let limit = ContinuousClock.now + .seconds(5)
        while sleeperCount < count {
            guard ContinuousClock.now < limit else {
                throw TestClockError(message: "expected \(count) sleepers, have \(sleeperCount)")
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}

struct TestClockError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
