import Foundation
import SpotifySimulator
import Testing

@Suite struct RateLimitTests {
    static let ids = [SpotifyCatalog(seed: 42).knownID(0)]

    @Test func requestOverTheLimitGets429WithRetryAfterUntilTheWindowHasRoom() async throws {
        try await SimulatorHarness.with {
            $0.rateLimit = 3
        } _: { harness in
            // Token requests do not count against the API's limit.
            for _ in 0..<5 { _ = try await harness.token() }
            let token = try await harness.token()
            let first = ContinuousClock.now
            for _ in 0..<3 {
                #expect(try await harness.tracks(Self.ids, token: token).status == 200)
            }
            let limited = try await harness.tracks(Self.ids, token: token)
            let elapsed = Int((ContinuousClock.now - first).components.seconds)
            #expect(limited.status == 429)
            #expect(limited.errorMessage == "API rate limit exceeded")
            let retryAfter = try #require(limited.headers.first(name: "Retry-After").flatMap { Int($0) })
            // Until the first request leaves the 30 s window: 30 s less the time the four took
            // (seconds on a loaded machine), rounded up.
            #expect((29 - elapsed...30).contains(retryAfter), "\(retryAfter) s after \(elapsed) s")
            #expect(harness.simulator.stats().rateLimited == 1)
        }
    }

    @Test func configuredRetryAfterIsSentAndHonouredAfterwards() async throws {
        try await SimulatorHarness.with {
            $0.rateLimit = 2
            // Long enough that the next request comes inside it even on a loaded machine (a
            // 1 s wait had passed before it beside a release build, a 4 s one in the suite's
            // busy first seconds).
            $0.retryAfter = .seconds(10)
        } _: { harness in
            let token = try await harness.token()
            for _ in 0..<2 { _ = try await harness.tracks(Self.ids, token: token) }
            let limited = try await harness.tracks(Self.ids, token: token)
            #expect(limited.status == 429)
            #expect(limited.headers.first(name: "Retry-After") == "10")
            // Raising the limit at runtime lets the client through once the announced wait is over.
            harness.simulator.setConfiguration { $0.rateLimit = 10 }
            #expect(try await harness.tracks(Self.ids, token: token).status == 429)
            try await Task.sleep(for: .milliseconds(10_100))
            #expect(try await harness.tracks(Self.ids, token: token).status == 200)
        }
    }

    @Test func unauthenticatedRequestsDoNotUseTheAppsBudget() async throws {
        try await SimulatorHarness.with {
            $0.rateLimit = 1
        } _: { harness in
            let token = try await harness.token()
            for _ in 0..<3 {
                #expect(try await harness.tracks(Self.ids, token: nil).status == 401)
            }
            #expect(try await harness.tracks(Self.ids, token: token).status == 200)
        }
    }
}
