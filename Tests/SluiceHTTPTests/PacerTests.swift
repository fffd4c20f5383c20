import Testing

@testable import SluiceHTTP

@Suite struct PacerTests {
    typealias Machine = PacerStateMachine<TestClock.Instant>

    static func at(_ milliseconds: Int) -> TestClock.Instant {
        TestClock.Instant(offset: .milliseconds(milliseconds))
    }

    @Test func spacingIsMeasuredFromThePreviousStart() {
        var machine = Machine(rules: PacingRules(spacing: .milliseconds(330)))
        #expect(machine.requestStart(at: Self.at(0)) == .start)
        #expect(machine.requestStart(at: Self.at(100)) == .wait(until: Self.at(330), blocked: false))
        #expect(machine.requestStart(at: Self.at(330)) == .start)
        // A late caller starts at once; the next spacing counts from its own start.
        #expect(machine.requestStart(at: Self.at(1000)) == .start)
        #expect(machine.requestStart(at: Self.at(1001)) == .wait(until: Self.at(1330), blocked: false))
    }

    @Test func rollingWindowAdmitsTheNextStartWhenTheOldestLeavesIt() {
        var machine = Machine(rules: PacingRules(limit: 3, window: .seconds(60)))
        for t in [0, 10_000, 20_000] {
            #expect(machine.requestStart(at: Self.at(t)) == .start)
        }
        #expect(machine.requestStart(at: Self.at(30_000)) == .wait(until: Self.at(60_000), blocked: false))
        #expect(machine.requestStart(at: Self.at(60_000)) == .start)
        #expect(machine.requestStart(at: Self.at(60_001)) == .wait(until: Self.at(70_000), blocked: false))
    }

    @Test func blockStopsEveryStartUntilItEnds() {
        var machine = Machine(rules: PacingRules())
        machine.block(until: Self.at(2000))
        machine.block(until: Self.at(1000))  // an earlier block does not shorten a later one
        #expect(machine.requestStart(at: Self.at(0)) == .wait(until: Self.at(2000), blocked: true))
        #expect(machine.requestStart(at: Self.at(1999)) == .wait(until: Self.at(2000), blocked: true))
        #expect(machine.requestStart(at: Self.at(2000)) == .start)
    }

    /// 400 sequential turns under `delay 0.33s` and `rate 180/min`, on a fake clock: every start
    /// is exactly when the rules first allow it, never earlier.
    @Test func sequentialTurnsFollowSpacingAndRollingWindowExactly() async throws {
        let clock = TestClock(autoAdvance: true)
        let spacing = Duration.milliseconds(330)
        let pacer = Pacer(
            rules: PacingRules(spacing: spacing, limit: 180, window: .seconds(60)), clock: clock,
            maxBlockedWait: .seconds(120))
        var starts: [Duration] = []
        for _ in 0..<400 {
            _ = try await pacer.waitForTurn()
            starts.append(clock.now.offset)
        }
        var expected: [Duration] = [.zero]
        for i in 1..<400 {
            var next = expected[i - 1] + spacing
            if i >= 180 { next = max(next, expected[i - 180] + .seconds(60)) }
            expected.append(next)
        }
        #expect(starts == expected)
        // The 181st start waits for the first to leave the window, not just for the spacing.
        #expect(starts[180] == .seconds(60))
        for i in 180..<400 {
            #expect(starts[i] - starts[i - 180] >= .seconds(60))
        }
    }

    @Test func concurrentCallersShareTheSpacing() async throws {
        let clock = TestClock()
        let pacer = Pacer(rules: PacingRules(spacing: .seconds(1)), clock: clock, maxBlockedWait: .seconds(120))
        let starts = try await withThrowingTaskGroup(of: Duration.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    _ = try await pacer.waitForTurn()
                    return clock.now.offset
                }
            }
            try await clock.waitForSleepers(2)
            clock.advance(by: .seconds(1))
            try await clock.waitForSleepers(1)
            clock.advance(by: .seconds(1))
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(starts.sorted() == [.zero, .seconds(1), .seconds(2)])
    }

    /// The turn after a block starts when the block ends; the wait is the `Retry-After`'s (the
    /// fetcher counts it in `wait_ms`), not pacing: `paced_ms` does not count it again.
    @Test func blockForRetryAfterDelaysTheNextTurnByExactlyThatLong() async throws {
        let clock = TestClock(autoAdvance: true)
        let pacer = Pacer(rules: PacingRules(spacing: .milliseconds(330)), clock: clock, maxBlockedWait: .seconds(120))
        _ = try await pacer.waitForTurn()
        await pacer.block(for: .seconds(2))
        let waited = try await pacer.waitForTurn()
        #expect(waited == .zero)
        #expect(clock.now.offset == .seconds(2))
        #expect(try await pacer.waitForTurn() == .milliseconds(330), "spacing is pacing")
    }

    @Test func blockLongerThanTheCapThrowsWithoutSleeping() async throws {
        let clock = TestClock(autoAdvance: true)
        let pacer = Pacer(rules: PacingRules(), clock: clock, maxBlockedWait: .seconds(120))
        await pacer.block(for: .seconds(3600))
        let error = await #expect(throws: FetchError.self) { try await pacer.waitForTurn() }
        #expect(error?.kind == .retryAfterTooLong(seconds: 3600))
        // The limit it was compared with is said: what to raise max_retry_after to, if anything.
        #expect(
            error?.message
                == "the API asked to wait 3600 s before the next request (Retry-After), longer than max_retry_after "
                + "(120 s); stopped instead of sleeping, and sent nothing meanwhile")
        #expect(error?.isResumable == true)
        #expect(clock.now.offset == .zero)
    }

    /// A block says how much later it ends the host's wait: answers of one spent rate-limit window,
    /// in flight together, give one wait, said once.
    @Test func blockSaysHowMuchLaterTheHostsWaitEnds() async throws {
        let clock = TestClock()
        let pacer = Pacer(rules: PacingRules(), clock: clock, maxBlockedWait: .seconds(120))
        let first = await pacer.block(for: .seconds(10))
        let shorter = await pacer.block(for: .seconds(5))
        let longer = await pacer.block(for: .seconds(12), status: 200, header: "X-RateLimit-Reset")
        clock.advance(by: .seconds(20))
        let afterItEnded = await pacer.block(for: .seconds(3))
        #expect([first, shorter, longer, afterItEnded] == [.seconds(10), .zero, .seconds(2), .seconds(3)])
    }

    @Test func cancelledWaiterStopsAtOnce() async throws {
        let clock = TestClock()
        let pacer = Pacer(rules: PacingRules(spacing: .seconds(60)), clock: clock, maxBlockedWait: .seconds(120))
        _ = try await pacer.waitForTurn()
        let waiter = Task { try await pacer.waitForTurn() }
        try await clock.waitForSleepers(1)
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(clock.sleeperCount == 0)
    }
}
