import Foundation
import SluiceCore
import SluiceHTTP
import SpotifySimulator
import Testing

@testable import Sluice
@testable import SluicePipeline

@Suite struct FetchStageTests {
    static let columns = ["track_id", "spotify_id"]

    /// One batch of rows `t1, t2, ...` with the given Spotify ids.
    static func batch(_ ids: [Value], from start: Int = 1) -> Batch {
        Batch(columns: columns, rows: ids.enumerated().map { [.string("t\(start + $0.offset)"), $0.element] })
    }

    static func rejects(_ harness: StageHarness) async throws -> [String] {
        guard let file = harness.artifacts("rejects").first else { return [] }
        return try await text(of: file).components(
            separatedBy: "\r\n"
        ).dropFirst()
            .filter { !$0.isEmpty }
    }

    @Test func attachesItemsByPositionAndRejectsUnknownAndMissingIDs() async throws {
        try await Simulator.with { sim in
            let catalog = sim.catalog
            let known = catalog.knownID(1)
            let relinked = catalog.relinkedID(1)
            let unknown = catalog.unknownID(1)
            let stage = try await sim.fetchStage()
            let harness = try await StageHarness(stage: stage)
            let input = [
                Self.batch([
                    .string(known), .string(relinked), .string(unknown), .null, .string("spotify:track:\(known)"),
                ])
            ]
            let out = try await harness.run(stage, input: input)
            let got = rows(out)
            #expect(got.map { $0["track_id"] } == ["t1", "t2", "t5"])
            #expect(got[0]["response"]?["id"] == .string(known))
            // Relinked: answered under another id, with linked_from naming the one asked for.
            #expect(got[1]["response"]?["id"] != .string(relinked))
            #expect(got[1]["response"]?["linked_from"]["id"] == .string(relinked))
            // The same track asked for twice (as a URI): both rows get it.
            #expect(got[2]["response"] == got[0]["response"])
            #expect(got[0]["response"]?["popularity"].intValue == Int64(catalog.track(for: known)!.popularity))

            #expect(harness.counters["found"] == 3)
            #expect(harness.counters["not_found"] == 1)
            #expect(harness.counters["missing_id"] == 1)
            #expect(harness.counters["requests"] == 1)
            #expect(harness.counters["token_requests"] == 1)
            #expect(harness.context.progress.rowsRejected == 2)
            let rejects = try await Self.rejects(harness)
            #expect(rejects.count == 2)
            #expect(rejects.contains { $0.hasPrefix("fetch,missing_id,") && $0.contains("t4") })
            #expect(
                rejects.contains {
                    $0.hasPrefix("fetch,not_found,\"fetch id (") && $0.contains(")\",\(unknown),") && $0.contains("t3")
                })
        }
    }

    /// Without an `id_pattern` that knows better, the API's 400 for the whole batch is narrowed
    /// down to the one id it refuses.
    @Test func oneMalformedIDAmongFiftyIsIsolated() async throws {
        try await Simulator.with { sim in
            var ids: [Value] = (0..<49).map { .string(sim.catalog.knownID($0)) }
            ids.insert("abc", at: 17)
            let stage = try await sim.fetchStage(["fetch.id_pattern=.+"])
            let harness = try await StageHarness(stage: stage)
            let out = try await harness.run(stage, input: [Self.batch(ids)])
            let got = rows(out)
            #expect(got.count == 49)
            #expect(!got.contains { $0["track_id"] == "t18" })
            #expect(got.allSatisfy { !($0["response"]?.isNull ?? true) })
            #expect(harness.counters["rejected"] == 1)
            // Halving asks 12 requests here; not asking for a half whose answer is known, 10.
            #expect(harness.counters["narrowed_requests"] == 10)
            let rejects = try await Self.rejects(harness)
            #expect(rejects.count == 1)
            #expect(rejects.first?.hasPrefix("fetch,invalid_id,\"fetch id (") == true, "\(rejects)")
            #expect(rejects.first?.contains(")\",abc,") == true)
            #expect(rejects.first?.contains("invalid id") == true)
        }
    }

    @Test func developmentModeFallsBackPerItemAndSaysPopularityIsMissing() async throws {
        try await Simulator.with({ $0.developmentMode = true }) { sim in
            let ids: [Value] = (0..<6).map { .string(sim.catalog.knownID($0)) }
            let stage = try await sim.fetchStage()
            let harness = try await StageHarness(stage: stage)
            let out = try await harness.run(stage, input: [Self.batch(ids)])
            let got = rows(out)
            #expect(got.count == 6)
            #expect(got.allSatisfy { $0["response"]?["popularity"] == .null })
            let withISRC = (0..<6).filter { sim.catalog.track(for: sim.catalog.knownID($0))?.isrc != nil }.count
            #expect(got.filter { $0["response"]?["external_ids"]["isrc"].stringValue != nil }.count == withISRC)
            #expect(harness.counters["fallback_requests"] == 6)
            // The engine says what happened; the plan's fallback_note says why (Spotify's words).
            #expect(harness.notices.contains { $0.contains("answered 403") && $0.contains("one request per item") })
            #expect(harness.notices.contains { $0.contains("Development Mode") && $0.contains("no popularity") })
        }
    }

    @Test func honoursRetryAfterOn429() async throws {
        try await Simulator.with({
            $0.rateLimit = 2
            // Long enough for the lifter below to act within it on a loaded machine.
            $0.retryAfter = .seconds(2)
            $0.penalizeRequestsDuringWait = true
        }) { sim in
            let stage = try await sim.fetchStage()
            let harness = try await StageHarness(stage: stage)
            let input = (0..<4).map { Self.batch([.string(sim.catalog.knownID($0))], from: $0 + 1) }
            // Once the 429 has been sent, lift the limit: the retry must still wait out the
            // announced two seconds, and nothing may be sent during them (a second 429).
            let lifter = Task {
                while sim.simulator.stats().rateLimited == 0 { try await Task.sleep(for: .milliseconds(5)) }
                sim.simulator.setConfiguration { $0.rateLimit = nil }
            }
            let started = ContinuousClock.now
            let out = try await harness.run(stage, input: input)
            let elapsed = ContinuousClock.now - started
            lifter.cancel()
            #expect(rows(out).count == 4)
            #expect(harness.counters["http_429"] == 1)
            #expect(sim.simulator.stats().rateLimited == 1)
            #expect(harness.counters["retries"] == 1)
            #expect(elapsed >= .seconds(2))
        }
    }

    /// While it waits out a Retry-After, the stage's progress says so: a fetch that sends
    /// nothing for a while is not stuck.
    @Test func progressSaysWhyAFetchWaits() async throws {
        try await Simulator.with({
            $0.rateLimit = 1
            $0.retryAfter = .seconds(3)
        }) { sim in
            let stage = try await sim.fetchStage()
            let harness = try await StageHarness(stage: stage)
            let input = (0..<3).map { Self.batch([.string(sim.catalog.knownID($0))], from: $0 + 1) }
            let running = Task { try await harness.run(stage, input: input) }
            var said: String?
            let deadline = ContinuousClock.now + .seconds(60)
            while said == nil, ContinuousClock.now < deadline {
                said = harness.context.progress.waiting(at: .now)?.reason
                try await Task.sleep(for: .milliseconds(20))
            }
            sim.simulator.setConfiguration { $0.rateLimit = nil }
            #expect(rows(try await running.value).count == 3)
            #expect(said == "rate limited (HTTP 429), Retry-After", "\(String(describing: said))")
            #expect(harness.context.progress.waiting(at: .now + .seconds(4)) == nil, "said only while it lasts")
        }
    }

    /// An answer long in coming (here 8 s) shows as a wait for it once it has taken 5 s, with
    /// the time left before the request times out: a fetch that is not moving is waiting, not stuck.
    @Test func progressSaysAFetchWaitsForAnAnswerLongInComing() async throws {
        try await Simulator.with({ $0.latency = .seconds(8) }) { sim in
            let stage = try await sim.fetchStage()
            let harness = try await StageHarness(stage: stage)
            let input = [Self.batch([.string(sim.catalog.knownID(0))], from: 1)]
            let started = ContinuousClock.now
            let running = Task { try await harness.run(stage, input: input) }
            var said: StageProgress.Wait?
            var saidAfter: Duration?
            let deadline = ContinuousClock.now + .seconds(60)
            while said == nil, ContinuousClock.now < deadline {
                said = harness.context.progress.waiting(at: .now)
                if said != nil { saidAfter = ContinuousClock.now - started }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(rows(try await running.value).count == 1)
            let reason = try #require(said?.reason)
            #expect(reason.hasPrefix("no answer from the API for "), "\(reason)")
            #expect(reason.hasSuffix("s; the request times out after 30s"), "\(reason)")
            #expect(try #require(saidAfter) >= HTTPFetcher.noticeableWait)
            // The time left counts down to the request's timeout.
            #expect(try #require(said?.left) <= .seconds(25))
        }
    }

    /// The same for the token endpoint, asked before any request can go: a slow identity provider
    /// shows as a wait for it, not as a fetch that does nothing.
    @Test func progressSaysAFetchWaitsForAnAccessTokenLongInComing() async throws {
        try await Simulator.with({ $0.tokenLatency = .seconds(8) }) { sim in
            let stage = try await sim.fetchStage()
            let harness = try await StageHarness(stage: stage)
            let input = [Self.batch([.string(sim.catalog.knownID(0))], from: 1)]
            let running = Task { try await harness.run(stage, input: input) }
            var said: StageProgress.Wait?
            let deadline = ContinuousClock.now + .seconds(60)
            while said == nil, ContinuousClock.now < deadline {
                said = harness.context.progress.waiting(at: .now)
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(rows(try await running.value).count == 1)
            let reason = try #require(said?.reason)
            #expect(reason.hasPrefix("no answer from the token endpoint for "), "\(reason)")
            #expect(reason.hasSuffix("s; the request times out after 30s"), "\(reason)")
        }
    }

    @Test func faultsAtFivePercentStillGiveACompleteResult() async throws {
        try await Simulator.with({
            $0.faults.rate = 0.05
            $0.faults.seed = 24  // 4 faults in the first 40 draws: truncated JSON, a hang, a 500, a dropped connection
            $0.faults.hangLimit = .seconds(5)
        }) { sim in
            let stage = try await sim.fetchStage(["fetch.timeout=2s", "fetch.retries=8"])
            let harness = try await StageHarness(stage: stage)
            let input = (0..<40).map { b in
                Self.batch((0..<50).map { .string(sim.catalog.knownID(b * 50 + $0)) }, from: b * 50 + 1)
            }
            let out = try await harness.run(stage, input: input)
            #expect(rows(out).count == 2000)
            #expect(rows(out).map { $0["track_id"] } == (1...2000).map { .string("t\($0)") })
            #expect(harness.counters["found"] == 2000)
            let faults = sim.simulator.stats().faultsInjected
            #expect(faults > 0, "seed 24 injects faults into 40 requests")
            // Every fault is retried once. On a loaded machine (the whole suite beside this test)
            // an answer can also come after the 2 s timeout: such a retry is counted as a timeout.
            let retries = harness.counters["retries"] ?? 0
            #expect(retries >= faults)
            #expect(retries - faults <= (harness.counters["timeouts"] ?? 0) - 1, "the hang is one timeout")
        }
    }

    /// The plan's `id_pattern` rejects a malformed id before any request: one request for the
    /// other 49, none refused, nothing to narrow.
    @Test func anIDThePatternRefusesIsRejectedWithoutARequest() async throws {
        try await Simulator.with { sim in
            var ids: [Value] = (0..<49).map { .string(sim.catalog.knownID($0)) }
            ids.insert("abc", at: 17)
            let stage = try await sim.fetchStage()
            let harness = try await StageHarness(stage: stage)
            let out = try await harness.run(stage, input: [Self.batch(ids)])
            #expect(rows(out).count == 49)
            #expect(harness.counters["requests"] == 1)
            #expect(harness.counters["narrowed_requests"] == 0)
            #expect(harness.counters["malformed_id"] == 1)
            #expect(harness.counters["rejected"] == 0)
            let sent = sim.simulator.stats().requestLog.filter { $0.path == "/v1/tracks" }.flatMap(\.ids)
            #expect(sent.count == 49 && !sent.contains("abc"))
            let rejects = try await Self.rejects(harness)
            #expect(rejects.count == 1)
            #expect(
                rejects.first?.hasPrefix(#"fetch,invalid_id,"fetch id (regex_extract(spotify_id, '"#) == true,
                "\(rejects)")
            #expect(rejects.first?.contains(#"'))",abc,"#) == true, "the value is the id the expression gave")
            #expect(rejects.first?.contains("does not match id_pattern [0-9A-Za-z]{22}; not sent to the API") == true)
        }
    }

    /// `concurrency: 4` keeps four requests in flight while one batch hangs: the batches after
    /// it are fetched meanwhile (waves would wait for the hung one), at most a window's worth
    /// ahead, and the output still comes in input order.
    @Test func aSlowBatchHoldsUpOnlyItsOwnPlaceNotTheWindow() async throws {
        try await Simulator.with { sim in
            sim.simulator.scheduleFaults([.hang])
            // The hang lasts until the 4 s timeout: time enough, even with the whole suite
            // running beside this test, for the window to do all it may meanwhile.
            let stage = try await sim.fetchStage(["fetch.concurrency=4", "fetch.timeout=4s", "fetch.retries=2"])
            let harness = try await StageHarness(stage: stage)
            let input = (0..<12).map { Self.batch([.string(sim.catalog.knownID($0))], from: $0 + 1) }
            let out = try await harness.run(stage, input: input)
            #expect(rows(out).map { $0["track_id"] } == (1...12).map { .string("t\($0)") })
            let log = sim.simulator.stats().requestLog.filter { $0.path == "/v1/tracks" }
            let hung = try #require(log.first?.ids.first)
            let retry = try #require(log.dropFirst().firstIndex { $0.ids == [hung] })
            let meanwhile = log[1..<retry].count
            // The hung request is one of the first four sent. Waves of 4 would have asked for the
            // 3 others of its wave; the window goes on, but no further than `concurrency`
            // answered batches past the one it waits for (3 before it at most, 7 after).
            #expect(meanwhile >= 5 && meanwhile <= 10, "\(meanwhile) requests while one batch hung")
        }
    }

    @Test func concurrentBatchesKeepInputOrder() async throws {
        try await Simulator.with({ $0.latency = .milliseconds(5) }) { sim in
            let stage = try await sim.fetchStage(["fetch.concurrency=4", "chunk.size=10"])
            let harness = try await StageHarness(stage: stage)
            let input = (0..<9).map { b in
                Self.batch((0..<10).map { .string(sim.catalog.knownID(b * 10 + $0)) }, from: b * 10 + 1)
            }
            let out = try await harness.run(stage, input: input)
            #expect(rows(out).map { $0["track_id"] } == (1...90).map { .string("t\($0)") })
            #expect(rows(out).map { $0["response"]?["id"] } == (0..<90).map { .string(sim.catalog.knownID($0)) })
        }
    }

    @Test func aRetryAfterLongerThanTheCapStopsAsResumable() async throws {
        try await Simulator.with({
            $0.rateLimit = 1
            $0.retryAfter = .seconds(3600)
        }) { sim in
            let stage = try await sim.fetchStage(["fetch.max_retry_after=1s"])
            let harness = try await StageHarness(stage: stage)
            let input = (0..<2).map { Self.batch([.string(sim.catalog.knownID($0))], from: $0 + 1) }
            let started = ContinuousClock.now
            let error = await #expect(throws: FetchError.self) { try await harness.run(stage, input: input) }
            // Far under the hour it was told to wait, and far over what a loaded 2-core machine takes
            // to get there (65 s once, at the start of a fresh clone's suite).
            #expect(ContinuousClock.now - started < .seconds(600), "slept on a 3,600 s Retry-After")
            #expect((error as (any Error)?).flatMap { $0 as? any ResumableError }?.isResumable == true)
            // The limit the wait was compared with is said.
            #expect(
                error?.message.contains(
                    "(Retry-After), longer than max_retry_after (1 s); stopped instead of sleeping") == true,
                "\(String(describing: error))")
            #expect(harness.counters["http_429"] == 1)
            // The stopped fetch keeps its timeline, the 429 in it.
            let timeline = try #require(harness.artifacts("timeline").first)
            let rows = try await text(of: timeline).components(separatedBy: "\r\n").dropFirst().filter { !$0.isEmpty }
            #expect(rows.map { $0.split(separator: ",")[3] }.contains("1"), "\(rows)")
        }
    }
}
