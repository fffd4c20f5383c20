import Testing

@testable import SpotifySimulator

/// The rolling window without sockets or waiting: the tests make up the instants.
@Suite struct RateLimitWindowTests {
    let start = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant {
        start + .milliseconds(Int(seconds * 1000))
    }

    @Test func admitsTheLimitThenAsksToWaitUntilTheOldestLeavesTheWindow() {
        var window = RateLimitWindow()
        for second in 0..<3 {
            #expect(window.decide(at: at(Double(second)), limit: 3, fixedRetryAfter: nil, penalize: false) == .admit)
        }
        // The first request (t=0) leaves the 30 s window at t=30: from t=10.5 that is 19.5 s, rounded up.
        #expect(
            window.decide(at: at(10.5), limit: 3, fixedRetryAfter: nil, penalize: false)
                == .reject(retryAfterSeconds: 20))
    }

    @Test func windowRollsSoRequestsAreAdmittedAgainAfterThirtySeconds() {
        var window = RateLimitWindow()
        #expect(window.decide(at: at(0), limit: 1, fixedRetryAfter: nil, penalize: false) == .admit)
        #expect(window.decide(at: at(30.1), limit: 1, fixedRetryAfter: nil, penalize: false) == .admit)
    }

    @Test func waitIsRoundedUpToWholeSecondsAndEnforcedAsAnnounced() {
        var window = RateLimitWindow()
        _ = window.decide(at: at(0), limit: 1, fixedRetryAfter: nil, penalize: false)
        // 0.1 s until the window has room is announced as 1 s, and a request at 30.1 s is still inside it.
        #expect(
            window.decide(at: at(29.9), limit: 1, fixedRetryAfter: nil, penalize: false)
                == .reject(retryAfterSeconds: 1))
        #expect(
            window.decide(at: at(30.1), limit: 1, fixedRetryAfter: nil, penalize: false)
                == .reject(retryAfterSeconds: 1))
        #expect(window.decide(at: at(30.9), limit: 1, fixedRetryAfter: nil, penalize: false) == .admit)
    }

    @Test func fixedRetryAfterIsAnnouncedAndEnforced() {
        var window = RateLimitWindow()
        _ = window.decide(at: at(0), limit: 1, fixedRetryAfter: .seconds(2), penalize: false)
        #expect(
            window.decide(at: at(1), limit: 1, fixedRetryAfter: .seconds(2), penalize: false)
                == .reject(retryAfterSeconds: 2))
        // Sending during the announced wait is refused with what is left of it.
        #expect(
            window.decide(at: at(2.5), limit: 1, fixedRetryAfter: .seconds(2), penalize: false)
                == .reject(retryAfterSeconds: 1))
        // After the wait the window (still full until t=30) sets a new one.
        #expect(
            window.decide(at: at(3), limit: 1, fixedRetryAfter: .seconds(2), penalize: false)
                == .reject(retryAfterSeconds: 2))
        #expect(window.decide(at: at(31), limit: 1, fixedRetryAfter: .seconds(2), penalize: false) == .admit)
    }

    @Test func sendingDuringTheWaitDoublesItWhenPenalized() {
        var window = RateLimitWindow()
        _ = window.decide(at: at(0), limit: 1, fixedRetryAfter: .seconds(10), penalize: true)
        #expect(
            window.decide(at: at(1), limit: 1, fixedRetryAfter: .seconds(10), penalize: true)
                == .reject(retryAfterSeconds: 10))
        // 8 s were left at t=3; sending then makes it 16.
        #expect(
            window.decide(at: at(3), limit: 1, fixedRetryAfter: .seconds(10), penalize: true)
                == .reject(retryAfterSeconds: 16))
        #expect(
            window.decide(at: at(18.5), limit: 1, fixedRetryAfter: .seconds(10), penalize: true)
                == .reject(retryAfterSeconds: 1))
    }

    @Test func retryAfterIsWholeSecondsAndNeverZero() {
        #expect(RateLimitWindow.wholeSeconds(.zero) == 1)
        #expect(RateLimitWindow.wholeSeconds(.milliseconds(1)) == 1)
        #expect(RateLimitWindow.wholeSeconds(.seconds(2)) == 2)
        #expect(RateLimitWindow.wholeSeconds(.milliseconds(2001)) == 3)
    }

    @Test func noLimitAdmitsEverything() {
        var window = RateLimitWindow()
        for index in 0..<1000 {
            #expect(
                window.decide(at: at(Double(index) / 1000), limit: nil, fixedRetryAfter: nil, penalize: false) == .admit
            )
        }
        #expect(window.admitted.isEmpty)
    }
}
