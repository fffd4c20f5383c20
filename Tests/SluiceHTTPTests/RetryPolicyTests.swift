import Foundation
import SluiceCore
import Testing

@testable import SluiceHTTP

@Suite struct RetryPolicyTests {
    static let policy = RetryPolicy(retries: 5, base: .milliseconds(500), cap: .seconds(4))

    @Test(arguments: [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (80, 4.0)])
    func ceilingDoublesUpToTheCap(retry: Int, seconds: Double) {
        #expect(Self.policy.ceiling(forRetry: retry) == .seconds(seconds))
    }

    @Test func backoffIsAFullJitterDrawBelowTheCeiling() {
        var random = SplitMix64(seed: 3)
        var draws: [Duration] = []
        for retry in 1...5 {
            for _ in 0..<200 {
                let wait = Self.policy.backoff(forRetry: retry, using: &random)
                #expect(wait >= .zero && wait <= Self.policy.ceiling(forRetry: retry))
                draws.append(wait)
            }
        }
        // Full jitter spreads the waits: some land in the lowest tenth of the ceiling.
        #expect(draws.contains { $0 < .milliseconds(50) })
        var maximal = MaximalRandom()
        #expect(Self.policy.backoff(forRetry: 3, using: &maximal) == .seconds(2))
    }

    @Test func sameSeedSameWaits() {
        var a = SplitMix64(seed: 9)
        var b = SplitMix64(seed: 9)
        let first = (1...5).map { Self.policy.backoff(forRetry: $0, using: &a) }
        let second = (1...5).map { Self.policy.backoff(forRetry: $0, using: &b) }
        #expect(first == second)
    }

    @Test func attemptsAreBounded() {
        #expect(Self.policy.allowsRetry(afterAttempts: 5))
        #expect(!Self.policy.allowsRetry(afterAttempts: 6))
        #expect(!RetryPolicy(retries: 0, base: .seconds(1), cap: .seconds(1)).allowsRetry(afterAttempts: 1))
    }
}

@Suite struct RetryAfterTests {
    @Test(arguments: [("2", 2.0), (" 120 ", 120.0), ("1.5", 1.5), ("0", 0.0), ("-3", 0.0)])
    func delaySeconds(header: String, seconds: Double) {
        #expect(RetryAfter.parse(header) == .seconds(seconds))
    }

    @Test func httpDateIsMeasuredFromNow() {
        let now = Date(timeIntervalSince1970: 1_445_412_470)  // Wed, 21 Oct 2015 07:27:50 GMT
        #expect(RetryAfter.parse("Wed, 21 Oct 2015 07:28:00 GMT", now: now) == .seconds(10))
        #expect(RetryAfter.parse("Wednesday, 21-Oct-15 07:28:00 GMT", now: now) == .seconds(10))
        #expect(RetryAfter.parse("Wed, 21 Oct 2015 07:00:00 GMT", now: now) == .zero)
    }

    /// An absurd wait is taken as the longest one (which stops the run): as asked, it overflowed
    /// the wait's `Duration` (a crash) and the manifest's date of its end.
    @Test(arguments: [
        "99999999999999999999", "9000000000000000000", "1e300", "inf", "2592001", "Fri, 31 Dec 9999 23:59:59 GMT",
    ])
    func anAbsurdWaitIsTakenAsTheLongest(header: String) {
        #expect(RetryAfter.parse(header) == RetryAfter.longest)
    }

    @Test(arguments: [nil, "", "soon", "Wed, 99 Foo 2015", "nan"])
    func unreadableHeaderIsNil(header: String?) {
        #expect(RetryAfter.parse(header) == nil)
    }
}
