import APIFixtureServer
import AsyncHTTPClient
import Foundation
import SluiceCore
import SluiceTestSupport
import Testing

@testable import SluiceHTTP

/// An API that says its rate limit in headers (GitHub's `X-RateLimit-*`, the IETF draft's
/// `RateLimit-*`) is obeyed: a spent limit holds the whole host back until its reset, and a 403
/// that says so is "slow down", not "forbidden". A real server, a fake clock: no real waits.
@Suite struct RateLimitHeaderTests {
    static let items: [String: Value] = ["a": .object(["n": .int(1)]), "b": .object(["n": .int(2)])]

    /// The epoch second `seconds` from now, as GitHub's `X-RateLimit-Reset` gives it.
    static func epoch(in seconds: Int) -> String {
        String(Int(Date().timeIntervalSince1970) + seconds)
    }

    /// What fetching `ids` (per item, `/items/ID`) came to, against an API that answers `limits`
    /// first, on a clock that jumps to the end of each wait.
    struct Fetched {
        var results: [ItemResult]?
        var error: FetchError?
        var counters: FetchCounters
        /// How far the fake clock moved: every wait the fetch slept.
        var waited: Duration
        var requests: Int
        var log: LogCapture
    }

    static func fetch(
        _ ids: [String], limits: [FixtureLimitAnswer], throttleStatuses: Set<Int> = [],
        maxRetryAfter: Duration = .seconds(600)
    ) async throws -> Fetched {
        var api = FixtureAPI(shape: .perItem(pathPrefix: "/items/"), answers: items)
        api.limitAnswers = limits
        let server = FixtureServer(api: api)
        _ = try await server.start()
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPFetcher.clientConfiguration)
        var configuration = FetchConfiguration(baseURL: server.origin!, path: "/items/{id}", itemsKey: nil)
        configuration.request = .perItem
        configuration.throttleStatuses = throttleStatuses
        configuration.maxRetryAfter = maxRetryAfter
        // A backoff would move the clock too: never one here.
        configuration.backoffBase = .zero
        configuration.backoffMax = .zero
        let log = LogCapture()
        let clock = TestClock(autoAdvance: true)
        let fetcher = HTTPFetcher(configuration: configuration, httpClient: client, logger: log.logger, clock: clock)
        var fetched = Fetched(counters: FetchCounters(), waited: .zero, requests: 0, log: log)
        do {
            fetched.results = try await fetcher.fetch(ids: ids.map { "/items/\($0)" })
        } catch let error as FetchError {
            fetched.error = error
        }
        fetched.counters = await fetcher.counters
        fetched.waited = clock.now.offset
        fetched.requests = server.stats().requests
        try await client.shutdown()
        await server.stop()
        return fetched
    }

    static func found(_ n: Int) -> ItemResult { .found(.object(["n": .int(Int64(n))])) }

    /// GitHub's primary limit: 403, `X-RateLimit-Remaining: 0`, the reset as an epoch second, no
    /// `Retry-After`. Waited out until the reset, retried, answered.
    @Test func githubsSpent403IsWaitedOutUntilTheEpochResetAndRetried() async throws {
        let start = Date()
        let limit = FixtureLimitAnswer(
            status: 403,
            headers: ["X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": Self.epoch(in: 60)])
        let fetched = try await Self.fetch(["a"], limits: [limit])
        #expect(fetched.error == nil, "\(String(describing: fetched.error))")
        #expect(fetched.results == [Self.found(1)])
        // 60 s to the reset (59–60 s from `start`, an epoch reset being whole seconds), less the
        // time the test took to get there, which a loaded machine makes seconds.
        let took = Date().timeIntervalSince(start).rounded(.up)
        #expect(fetched.waited >= .seconds(59 - took) && fetched.waited <= .seconds(60), "\(fetched.waited), \(took) s")
        #expect(fetched.requests == 2)
        #expect(fetched.counters.throttled == 1)
        #expect(fetched.counters.retries == 1)
        #expect(fetched.counters.rateLimited == 0, "http_429 counts 429s only")
        let warnings = fetched.log.records.filter { $0.level == .warning }.map(\.message)
        #expect(
            warnings.contains {
                $0.hasPrefix("Rate limited (403); sending nothing to the host for X-RateLimit-Reset of")
            })
        #expect(!fetched.log.fullText.contains("forbids"))
    }

    /// GitHub's secondary limit: a 403 with a `Retry-After` (requests left in the primary one).
    /// Waited out so, retried, answered.
    @Test func a403WithRetryAfterIsWaitedOutAndRetried() async throws {
        let limit = FixtureLimitAnswer(
            status: 403, headers: ["Retry-After": "45", "X-RateLimit-Remaining": "4999"],
            message: "You have exceeded a secondary rate limit")
        let fetched = try await Self.fetch(["a"], limits: [limit])
        #expect(fetched.results == [Self.found(1)], "\(String(describing: fetched.error))")
        #expect(fetched.waited == .seconds(45))
        #expect(fetched.counters.throttled == 1)
    }

    /// A 403 whose headers do not say the limit is spent, nor when to come back, is the API
    /// refusing, as before.
    @Test(arguments: [[:], ["X-RateLimit-Remaining": "12", "X-RateLimit-Reset": "30"], ["Retry-After": "soon"]])
    func a403WithoutASpentLimitStaysForbidden(headers: [String: String]) async throws {
        let fetched = try await Self.fetch(
            ["a"], limits: [FixtureLimitAnswer(status: 403, headers: headers, message: "Resource not accessible")])
        #expect(fetched.error?.kind == .forbidden)
        #expect(fetched.error?.message.contains("the API forbids this request (403: Resource not accessible)") == true)
        #expect(fetched.requests == 1)
        #expect(fetched.waited == .zero)
    }

    /// A 200 saying the last request of the window is spent: the next request waits for the
    /// reset, with no 429 needed to learn it.
    @Test func a200SayingTheLimitIsSpentHoldsTheNextRequestUntilTheReset() async throws {
        let spent = FixtureLimitAnswer(headers: ["RateLimit-Remaining": "0", "RateLimit-Reset": "42"])
        let fetched = try await Self.fetch(["a", "b"], limits: [spent])
        #expect(fetched.results == [Self.found(1), Self.found(2)])
        #expect(fetched.waited == .seconds(42))
        #expect(fetched.requests == 2)
        #expect(fetched.counters.throttled == 0)
        #expect(fetched.counters.retries == 0)
        #expect(fetched.counters.waits == 1)
        let said = fetched.log.records.filter { $0.level == .warning }.map(\.message)
        #expect(said.contains { $0.contains("rate limit is spent (HTTP 200)") && $0.contains("(RateLimit-Reset)") })
    }

    /// A spent limit on the fetch's last answer holds back no request: no wait is said or counted.
    @Test func aSpentLimitOnTheLastAnswerIsNeitherSaidNorCountedAsAWait() async throws {
        let spent = FixtureLimitAnswer(headers: ["RateLimit-Remaining": "0", "RateLimit-Reset": "42"])
        let fetched = try await Self.fetch(["a"], limits: [spent])
        #expect(fetched.results == [Self.found(1)])
        #expect(fetched.waited == .zero)
        #expect(fetched.counters.waits == 0 && fetched.counters.waitSeconds == 0, "\(fetched.counters)")
        let said = fetched.log.records.map(\.message).filter { $0.contains("rate limit is spent") }
        #expect(said.isEmpty, "\(said)")
    }

    /// A 200 with requests left holds nothing back.
    @Test func a200WithRequestsLeftWaitsForNothing() async throws {
        let left = FixtureLimitAnswer(headers: ["X-RateLimit-Remaining": "1", "X-RateLimit-Reset": Self.epoch(in: 60)])
        let fetched = try await Self.fetch(["a", "b"], limits: [left])
        #expect(fetched.results == [Self.found(1), Self.found(2)])
        #expect(fetched.waited == .zero)
    }

    /// A 429 (or a `throttle_statuses` answer) without `Retry-After` waits its reset, not a
    /// backoff of Sluice's own.
    @Test(arguments: [429, 503])
    func aThrottleWithoutRetryAfterWaitsTheReset(status: Int) async throws {
        let limit = FixtureLimitAnswer(status: status, headers: ["RateLimit-Reset": "17"])
        let fetched = try await Self.fetch(["a"], limits: [limit], throttleStatuses: [503])
        #expect(fetched.results == [Self.found(1)])
        #expect(fetched.waited == .seconds(17))
        #expect(fetched.counters.throttled == 1)
        #expect(fetched.counters.rateLimited == (status == 429 ? 1 : 0))
    }

    /// A 429 whose headers say requests are left is throttled by another limit (GitHub's
    /// secondary one without a `Retry-After`): it backs off (none here) rather than waiting for the
    /// primary limit's reset, 50 minutes off, or stopping on it.
    @Test func a429WithRequestsLeftBacksOffRatherThanWaitingTheReset() async throws {
        let limit = FixtureLimitAnswer(
            status: 429, headers: ["X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": "3000"])
        let fetched = try await Self.fetch(["a"], limits: [limit], maxRetryAfter: .seconds(60))
        #expect(fetched.results == [Self.found(1)], "\(String(describing: fetched.error))")
        #expect(fetched.waited == .zero)
        #expect(fetched.counters.throttled == 1)
    }

    /// A reset further off than `max_retry_after` stops the fetch as resumable, as a long
    /// `Retry-After` does, saying which header asked, and notes when it ends (the run's `not_before`).
    @Test func aResetOverTheCapStopsAsResumable() async throws {
        let started = Date()
        let limit = FixtureLimitAnswer(
            status: 403, headers: ["X-RateLimit-Remaining": "0", "X-RateLimit-Reset": Self.epoch(in: 3600)])
        let fetched = try await Self.fetch(["a"], limits: [limit], maxRetryAfter: .seconds(60))
        // Less the time the test took to get there, which a loaded machine makes seconds.
        let took = Int(Date().timeIntervalSince(started).rounded(.up))
        let error = try #require(fetched.error)
        #expect(error.isResumable)
        if case .retryAfterTooLong(let seconds) = error.kind {
            #expect((3599 - took...3600).contains(seconds), "\(seconds), \(took) s")
        } else {
            Issue.record("stopped as \(error.kind)")
        }
        #expect(error.message.contains("(X-RateLimit-Reset), longer than max_retry_after (60 s)"), "\(error.message)")
        #expect(error.status == 403)
        let ends = try #require(fetched.counters.retryAfterEnds)
        #expect(ends.timeIntervalSince(started) > 3500)
        #expect(fetched.requests == 1)
    }

    /// The same over a 200's spent limit: the answer is kept, and the next request stops.
    @Test func aSpent200sResetOverTheCapStopsTheNextRequest() async throws {
        let spent = FixtureLimitAnswer(headers: ["X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "7200"])
        let fetched = try await Self.fetch(["a", "b"], limits: [spent], maxRetryAfter: .seconds(60))
        let error = try #require(fetched.error)
        #expect(error.isResumable)
        #expect(error.message.contains("(X-RateLimit-Reset), longer than max_retry_after"), "\(error.message)")
        #expect(error.status == 200)
        #expect(fetched.requests == 1)
        #expect(fetched.counters.retryAfterEnds != nil)
    }
}

/// Reading the headers alone.
@Suite struct RateLimitHeaderParsingTests {
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    static func read(_ headers: [String: String]) -> RateLimitHeaders {
        let lowered = Dictionary(uniqueKeysWithValues: headers.map { ($0.key.lowercased(), $0.value) })
        return RateLimitHeaders(header: { lowered[$0.lowercased()] }, now: now)
    }

    /// Over 10^12 an epoch millisecond, over 10^9 an epoch second, under it seconds from now; a
    /// past or negative reset is 1 s; past 30 days, 30 days.
    @Test(arguments: [
        ("1700000060", 60.0), ("1700000059.2", 60.0), ("1700000060000", 60.0), ("1700000059500", 60.0),
        ("1699999000000", 1.0), ("30", 30.0), (" 2.5 ", 2.5), ("0", 1.0), ("-5", 1.0),
        ("1699999000", 1.0), ("99999999999999999999", 2_592_000.0), ("1000000000", 2_592_000.0),
    ])
    func resetIsEpochOrSecondsFromNow(text: String, seconds: Double) {
        #expect(RateLimitHeaders.wait(untilReset: text, now: Self.now) == .seconds(seconds))
    }

    @Test(arguments: ["", "soon", "nan", "inf", "-inf", "12s", "Wed, 21 Oct 2015 07:28:00 GMT"])
    func garbageResetIsIgnored(text: String) {
        #expect(RateLimitHeaders.wait(untilReset: text, now: Self.now) == nil)
        #expect(Self.read(["X-RateLimit-Remaining": "0", "X-RateLimit-Reset": text]).spentWait == nil)
    }

    @Test func headerNamesAreMatchedWhateverTheirCase() {
        let read = Self.read(["x-ratelimit-remaining": "0", "X-RATELIMIT-RESET": "1700000010"])
        #expect(read.spentWait == .init(duration: .seconds(10), header: "X-RateLimit-Reset"))
    }

    @Test func onlyASpentLimitAsksForAWait() {
        #expect(Self.read(["RateLimit-Remaining": "3", "RateLimit-Reset": "10"]).spentWait == nil)
        #expect(Self.read(["RateLimit-Reset": "10"]).spentWait == nil)
        #expect(Self.read(["RateLimit-Reset": "10"]).reset?.duration == .seconds(10))
        #expect(Self.read(["RateLimit-Remaining": "0"]).isSpent)
        #expect(Self.read(["RateLimit-Remaining": "zero", "RateLimit-Reset": "10"]).isSpent == false)
        #expect(
            Self.read(["X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "1700000005"]).spentWait?.duration
                == .seconds(5))
    }

    /// The `RateLimit` field of the drafts: the older members, or the newer policies (the
    /// binding one taken).
    @Test func theCombinedFieldIsRead() {
        #expect(Self.read(["RateLimit": "limit=100, remaining=0, reset=50"]).spentWait?.duration == .seconds(50))
        #expect(
            Self.read(["RateLimit": "\"default\";r=0;t=30"]).spentWait
                == .init(duration: .seconds(30), header: "RateLimit"))
        let two = Self.read(["RateLimit": "\"hour\";r=0;t=900, \"minute\";r=0;t=20"])
        #expect(two.spentWait?.duration == .seconds(900))
        let one = Self.read(["RateLimit": "\"hour\";r=50;t=900, \"minute\";r=0;t=20"])
        #expect(one.spentWait?.duration == .seconds(20))
        #expect(Self.read(["RateLimit": "\"default\";r=5;t=30"]).spentWait == nil)
        #expect(Self.read(["RateLimit": ";;=,r=,t"]).spentWait == nil)
    }

    /// A 403 is "slow down" only when the headers say the limit is spent, or say when to come back
    /// (GitHub's secondary limit: a `Retry-After`).
    @Test func aSpent403IsRateLimited() {
        #expect(
            ResponseOutcome.classify(status: 403, retryAfter: nil, body: Array("{}".utf8), limitSpent: true)
                == .rateLimited(status: 403, retryAfter: nil))
        #expect(
            ResponseOutcome.classify(status: 403, retryAfter: "60", body: Array("{}".utf8))
                == .rateLimited(status: 403, retryAfter: .seconds(60)))
        let plain = ResponseOutcome.classify(status: 403, retryAfter: nil, body: Array("{}".utf8))
        #expect({ if case .forbidden = plain { true } else { false } }(), "\(plain)")
    }
}
