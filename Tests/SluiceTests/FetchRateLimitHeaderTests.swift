import APIFixtureServer
import Foundation
import SluiceCore
import SluiceHTTP
import Testing

@testable import Sluice
@testable import SluicePipeline

/// A fetch stage against an API that says its rate limit in headers, as GitHub's REST API does.
@Suite struct FetchRateLimitHeaderTests {
    static let api = FixtureAPI(shape: .perItem(pathPrefix: "/repos/"), answers: ["a": .object(["stars": .int(7)])])
    static let plan = "path: \"/repos/{repo}\""

    static func limited(_ limits: [FixtureLimitAnswer]) -> FixtureAPI {
        var api = Self.api
        api.limitAnswers = limits
        return api
    }

    /// GitHub's primary limit (403, none left, a reset a second off): waited out, retried, answered,
    /// and counted as throttled, not as a 429.
    @Test func aSpent403IsWaitedOutAndCountedAsThrottled() async throws {
        let limit = FixtureLimitAnswer(
            status: 403, headers: ["X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"])
        try await FetchShapesTests.with(Self.limited([limit])) { server, origin in
            let stage = try FetchShapesTests.fetchStage(Self.plan, connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let started = ContinuousClock.now
            let got = rows(try await harness.run(stage, input: [Batch(columns: ["repo"], rows: [["a"]])]))
            #expect(ContinuousClock.now - started >= .seconds(1))
            #expect(got.map { $0["response"]?["stars"] } == [.int(7)])
            #expect(harness.counters["throttled"] == 1)
            #expect(harness.counters["http_429"] == 0)
            #expect(harness.counters["retries"] == 1)
            #expect(server.stats().requests == 2)
        }
    }

    /// A reset an hour off, over `max_retry_after`: the stage stops as resumable, with the reset
    /// as the run's `not_before`.
    @Test func aResetOverTheCapStopsResumablyWithTheResetAsNotBefore() async throws {
        let reset = Int(Date().timeIntervalSince1970) + 3600
        let limit = FixtureLimitAnswer(
            status: 403, headers: ["X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "\(reset)"])
        try await FetchShapesTests.with(Self.limited([limit])) { server, origin in
            let stage = try FetchShapesTests.fetchStage(
                Self.plan + "\nmax_retry_after: 60s", connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let error = await #expect(throws: FetchError.self) {
                try await harness.run(stage, input: [Batch(columns: ["repo"], rows: [["a"]])])
            }
            #expect((error as (any Error)?).flatMap { $0 as? any ResumableError }?.isResumable == true)
            #expect(error?.message.contains("(X-RateLimit-Reset), longer than max_retry_after (60 s)") == true)
            let notBefore = try #require(harness.context.notBefore)
            #expect(abs(notBefore.timeIntervalSince1970 - Double(reset)) < 5, "\(notBefore)")
            #expect(server.stats().requests == 1)
        }
    }
}
