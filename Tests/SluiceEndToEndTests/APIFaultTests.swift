import Foundation
import SluicePipeline
import SluiceTestSupport
import SpotifySimulator
import Testing

/// The API half of the fault matrix (issue 7): the real `sluice` binary runs
/// `plans/spotify-enrichment.yaml` against the throwaway PostgreSQL while the simulator (its own
/// fault switches) or a ``FaultProxy`` between sluice and the simulator breaks the Web API.
/// Every case checks what the database half checks: a clear final status and exit code with a
/// message naming the cause, the table either exactly as before or fully enriched (every row
/// compared), no secret (client secret, database password, any access token issued) anywhere
/// sluice wrote or printed, and a re-run (or `sluice resume`) that converges.
@Suite(.serialized)
struct APIFaultTests {
    // MARK: Rate limits

    @Test func aShortRetryAfterIsWaitedOutInSilenceAndTheRunSucceeds() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120) { $0.faults.retryAfter = .seconds(1) }
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        fixture.simulator.scheduleFaults([.tooManyRequests429, .tooManyRequests429])

        let outcome = try await fixture.sluice.run(fixture.apiRunArguments())
        let manifest = try await APIChecks.expectSucceeded(fixture, outcome)
        #expect(manifest.stage("fetch")?.counters["http_429"] == 2)
        // A wait this short is not worth a line at the default level.
        #expect(!outcome.stderr.contains("Rate limited"), "\(outcome.stderr)")
        // Nothing reached the API during either announced wait.
        let log = fixture.apiLog()
        let limited = log.indices.filter { log[$0].status == 429 }
        #expect(limited.count == 2)
        for index in limited {
            let next = try #require(log.indices.contains(index + 1) ? log[index + 1] : nil)
            let silence = next.time - log[index].time
            #expect(silence >= .seconds(1), "a request \(silence) after a 429 with Retry-After: 1")
        }
        try await FaultChecks.expectEnriched(fixture, before: before)
        let again = try await APIChecks.expectRerunChangesNothing(fixture)
        try await APIChecks.expectNoSecrets(fixture, outputs: [outcome, again])
    }

    /// Ctrl-C while the fetch waits out a 429's `Retry-After` (under the cap): the run ends
    /// interrupted, its fetch recording when the API's wait ends (the time the API gave, not a wait
    /// counted from the Ctrl-C), and `sluice resume` typed at once waits only what is left of it.
    @Test func aCtrlCDuringARetryAfterRecordsTheAPIsWaitAndResumeWaitsOnlyTheRest() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120) { $0.faults.retryAfter = .seconds(20) }
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        fixture.simulator.scheduleFaults([.tooManyRequests429])

        let (process, out, err) = try fixture.sluice.start(
            fixture.apiRunArguments() + ["--set", "fetch.max_retry_after=10m"])
        defer { FaultChecks.stop(process) }
        try await FaultChecks.eventually("the 429") { fixture.apiLog().contains { $0.status == 429 } }
        let limited = try #require(fixture.apiLog().first { $0.status == 429 })
        // The API's wait ends 20 s after the simulator sent the 429: that instant, as a date.
        let ends = Date().addingTimeInterval(20 - (ContinuousClock.now - limited.time) / .seconds(1))
        try await Task.sleep(for: .seconds(3))
        kill(process.processIdentifier, SIGINT)
        let stopped = await FaultChecks.finish(process, out, err, within: .seconds(60))
        #expect(stopped.status == 130, "\(stopped.stderr)")
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.status == .interrupted)
        // The API's time (sluice got the 429 a moment after the simulator sent it), not 20 s
        // counted from the Ctrl-C, which came 3 s later.
        let notBefore = manifest.stage("fetch")?.notBefore
        #expect(
            notBefore.map { (-1..<2.5).contains($0.timeIntervalSince(ends)) } == true,
            "recorded \(String(describing: notBefore)), the API's wait ends \(ends)")
        #expect(stopped.stdout.contains("continue after "), "\(stopped.stdout)")

        let asked = fixture.apiLog().count
        let resumeStarted = Date()
        let resumed = try await fixture.sluice.run(["resume", fixture.lastRunDirectory().path, "--yes"])
        try await APIChecks.expectSucceeded(fixture, resumed)
        // What is left of the API's 20 s, 3 s of which had passed before the Ctrl-C (nothing, on a
        // machine so slow that the resume started after the wait).
        let waited = resumed.stderr.firstMatch(of: /waiting (\d+) s before resuming/).flatMap { Int($0.1) }
        #expect(
            waited.map { $0 <= 17 } ?? notBefore.map { resumeStarted >= $0 } ?? false, "\(resumed.stderr)")
        let first = try #require(fixture.apiLog().dropFirst(asked).first)
        #expect(first.time - limited.time >= .seconds(19.5), "the resume asked before the API's wait ended")
        try await FaultChecks.expectEnriched(fixture, before: before)
    }

    /// `sluice resume` waiting out the API's Retry-After has started nothing: a signal ends the
    /// wait and the command as it ends a run (130, saying so), and no run is made.
    @Test(arguments: [SIGINT, SIGTERM])
    func aSignalDuringResumesWaitForTheAPIStopsItCleanly(signal: Int32) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120) {
            $0.rateLimit = 2
            $0.retryAfter = .seconds(900)
        }
        defer { Task { await fixture.tearDown() } }
        let stopped = try await fixture.sluice.run(fixture.apiRunArguments())
        #expect(stopped.status == 4, "stopped resumably: \(stopped.stderr)")
        let runs = await fixture.manifests().count

        let run = try await fixture.lastRunDirectory()
        let (process, _, err) = try fixture.sluice.start(["resume", run.path])
        try await FaultChecks.eventually("the wait for the API") {
            ((try? await Files.text(err)) ?? "").contains("s before resuming")
        }
        kill(process.processIdentifier, signal)
        await SluiceProcess.wait(for: process)
        let said = (try? await Files.text(err)) ?? ""
        #expect(process.terminationStatus == 130, "\(said)")
        #expect(process.terminationReason == .exit, "ended by its own hand, not the signal: \(said)")
        #expect(said.contains("interrupted while waiting for the API: nothing was run or changed"), "\(said)")
        #expect(await fixture.manifests().count == runs)
    }

    /// `sluice resume --force` does not wait out the API's Retry-After (one set absurdly long, a
    /// limit known to be lifted): it says so and asks at once.
    @Test func aForcedResumeAsksAtOnceSayingHowEarly() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120) {
            $0.rateLimit = 2
            $0.retryAfter = .seconds(900)
        }
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let stopped = try await fixture.sluice.run(fixture.apiRunArguments())
        #expect(stopped.status == 4, "stopped resumably: \(stopped.stderr)")
        let notBefore = try #require(await fixture.manifests().last?.manifest.error?.notBefore)

        fixture.simulator.setConfiguration { $0.rateLimit = nil }
        let asked = fixture.apiLog().count
        let resumed = try await fixture.sluice.run(["resume", fixture.lastRunDirectory().path, "--yes", "--force"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("--force: resuming now, "), "\(resumed.stderr)")
        #expect(!resumed.stderr.contains("s before resuming"), "\(resumed.stderr)")
        // Judged against the API's own 900 s wait: a resume that slept it out would end after it.
        #expect(Date() < notBefore)
        #expect(fixture.apiLog().count > asked)
        try await FaultChecks.expectEnriched(fixture, before: before)
    }

    /// Run for review (no `--yes`), as the plan is meant to be: the stop says `sluice resume`, which
    /// asks only for what was not answered and stops before apply again; apply then finishes.
    @Test func aRetryAfterOverTheCapStopsAtOnceAsResumableAndResumeAsksOnlyForTheRest() async throws {
        // Two requests per 30 s window: the third is told to wait until the window has room (~30 s).
        let fixture = try await EnrichmentFixture.make(tracks: 120) { $0.rateLimit = 2 }
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        let stopped = try await fixture.sluice.run(fixture.apiRunArguments(approve: false))
        let manifest = try await APIChecks.expectStoppedResumably(
            fixture, stopped, before: before, approved: false,
            mentions: ["Retry-After", "max_retry_after", "sent nothing meanwhile"])
        #expect(manifest.stage("fetch")?.counters["http_429"] == 1)
        // When the API's wait ends is recorded, and the summary says to continue after it.
        let notBefore = try #require(manifest.error?.notBefore)
        // Judged against the API's own wait, not a wall-clock bound: however slow the machine, a
        // run that slept out the wait would end after it.
        #expect(Date() < notBefore, "stopped after the wait instead of at once")
        #expect(stopped.stdout.contains("continue after "), "\(stopped.stdout)")
        let log = fixture.apiLog()
        #expect(log.last?.status == 429, "nothing was sent after the 429")
        #expect(log.filter { $0.status == 429 }.count == 1)

        // Once the limit is lifted: what the summary says to type. Typed at once, it waits for the
        // API's Retry-After to pass before asking anything (sooner would be refused again).
        fixture.simulator.setConfiguration { $0.rateLimit = nil }
        let asked = log.count
        let resumed = try await fixture.sluice.run(["resume", fixture.lastRunDirectory().path])
        #expect(Date() >= notBefore)
        #expect(resumed.stderr.contains("s before resuming"), "\(resumed.stderr)")
        #expect(resumed.status == 3, "stopped before apply for review\n\(resumed.stderr)")
        #expect(try await fixture.table() == before)
        let fetch = try #require(await fixture.manifests().last?.manifest.stage("fetch"))
        #expect(fetch.counters["reused_answers", default: 0] > 0)
        #expect(fixture.apiLog().count - asked == fetch.counters["requests"], "only the rest was asked")

        let applied = try await fixture.sluice.run([
            "replay", fixture.lastRunDirectory().path, "--from", "apply", "--yes",
        ])
        #expect(applied.status == 0, "\(applied.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
        try await APIChecks.expectNoSecrets(fixture, outputs: [stopped, resumed, applied])
    }

    // MARK: Server errors

    @Test func aBurstOf500_502_503WithinTheRetryBudgetIsRetriedAndTheRunSucceeds() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        fixture.simulator.scheduleFaults([.serverError500, .badGateway502, .unavailable503Html])

        let outcome = try await fixture.sluice.run(fixture.apiRunArguments(retries: 3))
        let manifest = try await APIChecks.expectSucceeded(fixture, outcome)
        #expect(manifest.stage("fetch")?.counters["retries"] == 3)
        #expect(fixture.apiLog().prefix(3).map(\.status) == [500, 502, 503])
        // The first retry is said (the run is slowed down, not stuck); the others are counted.
        #expect(outcome.stderr.components(separatedBy: "Request failed (HTTP 500").count == 2, "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("Request failed (HTTP 502"), "\(outcome.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
        let again = try await APIChecks.expectRerunChangesNothing(fixture)
        try await APIChecks.expectNoSecrets(fixture, outputs: [outcome, again])
    }

    /// A 503 with `Retry-After: 2` (the service says how long it expects to be down), from an API
    /// whose plan lists no `throttle_statuses`: its retry waits those 2 s, not the 0.05 s backoff,
    /// and counts as a failure's retry, not a throttle.
    @Test func a503sRetryAfterIsWaitedOutBeforeItsRetry() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120) { $0.faults.retryAfter = .seconds(2) }
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        fixture.simulator.scheduleFaults([.unavailable503WithRetryAfter])

        let outcome = try await fixture.sluice.run(fixture.apiRunArguments())
        let manifest = try await APIChecks.expectSucceeded(fixture, outcome)
        let counters = manifest.stage("fetch")?.counters ?? [:]
        #expect(counters["retries"] == 1 && counters["throttled", default: 0] == 0, "\(counters)")
        let log = fixture.apiLog()
        let index = try #require(log.firstIndex { $0.status == 503 })
        let next = try #require(log.indices.contains(index + 1) ? log[index + 1] : nil)
        #expect(next.time - log[index].time >= .seconds(2), "asked again before the 503's Retry-After ended")
        try await FaultChecks.expectEnriched(fixture, before: before)
        try await APIChecks.expectNoSecrets(fixture, outputs: [outcome])
    }

    /// A 503 whose `Retry-After` is over `max_retry_after` stops the run at once, resumably, with
    /// when the wait ends recorded, as a 429's does.
    @Test func a503sRetryAfterOverTheCapStopsAtOnceRecordingTheWait() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120) { $0.faults.retryAfter = .seconds(900) }
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        fixture.simulator.scheduleFaults([.unavailable503WithRetryAfter])

        let stopped = try await fixture.sluice.run(fixture.apiRunArguments())
        let manifest = try await APIChecks.expectStoppedResumably(
            fixture, stopped, before: before, mentions: ["the API asked to wait 900 s", "max_retry_after"])
        let notBefore = try #require(manifest.error?.notBefore)
        #expect(Date() < notBefore && notBefore.timeIntervalSinceNow > 800)
        #expect(fixture.apiLog().last?.status == 503, "nothing was sent after the 503")
    }

    @Test func aBurstLongerThanTheRetryBudgetStopsResumablyNamingTheLastAnswer() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        fixture.simulator.scheduleFaults([.serverError500, .unavailable503Html, .badGateway502])

        let stopped = try await fixture.sluice.run(fixture.apiRunArguments(retries: 2))
        try await APIChecks.expectStoppedResumably(
            fixture, stopped, before: before, mentions: ["gave up after 3 attempts", "HTTP 502", "502 Bad Gateway"])
        #expect(fixture.apiLog().count == 3)

        let resumed = try await APIChecks.expectResumeConverges(fixture, before: before)
        try await APIChecks.expectNoSecrets(fixture, outputs: [stopped, resumed])
    }

    /// Approved with `--approve apply` (not `--yes`): the recorded resume command approves the
    /// same gate, so following it finishes the job instead of stopping at the gate.
    @Test func theResumeCommandApprovesWhatTheRunApproved() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        fixture.simulator.scheduleFaults([.serverError500])
        let stopped = try await fixture.sluice.run(
            fixture.apiRunArguments(retries: 0, approve: false) + ["--approve", "apply"])
        #expect(stopped.status == 4, "\(stopped.stderr)")
        let directory = try await fixture.lastRunDirectory().path
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(
            manifest.resumeCommand == "sluice resume \(directory) --approve apply",
            "\(String(describing: manifest.resumeCommand))")
        // The summary, and `runs show`, say what the run changed of its plan.
        let overrides = "overrides: --set fetch.delay=0.01s --set fetch.timeout=5s --set fetch.retries=0 "
        #expect(stopped.stdout.contains(overrides), "\(stopped.stdout)")
        let shown = try await fixture.sluice.run(["runs", "show", directory])
        #expect(shown.stdout.contains(overrides), "\(shown.stdout)")
        let resumed = try await fixture.sluice.run(["resume", directory, "--approve", "apply"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
    }

    // MARK: The connection

    @Test func aResponseThatNeverComesTimesOutOnEveryAttemptAndStopsResumably() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let proxy = try fixture.startProxy()
        defer { Task { await proxy.stop() } }
        proxy.setMode(.stall)

        let started = ContinuousClock.now
        let stopped = try await fixture.sluice.throughProxy(proxy).run(
            fixture.apiRunArguments(retries: 2, timeout: "1s"))
        let took = ContinuousClock.now - started
        #expect(took >= .seconds(3), "three attempts of 1 s each: \(took)")
        #expect(took < .seconds(30), "the timeout bounds every attempt: \(took)")
        let manifest = try await APIChecks.expectStoppedResumably(
            fixture, stopped, before: before, mentions: ["gave up after 3 attempts", "no complete response within 1"])
        #expect(manifest.stage("fetch")?.counters["timeouts"] == 3)
        #expect(fixture.apiLog().isEmpty, "the proxy swallowed every request")
        #expect(proxy.stats.faults == 3)

        proxy.setMode(.pass)
        let resumed = try await APIChecks.expectResumeConverges(
            fixture, sluice: fixture.sluice.throughProxy(proxy), before: before)
        try await APIChecks.expectNoSecrets(fixture, outputs: [stopped, resumed])
    }

    /// The connection reset (RST) or closed (FIN) after part of a response: the answer is lost,
    /// asked again, and the run succeeds.
    @Test(arguments: [FaultProxy.Mode.reset(afterBytes: 3000), .cut(afterBytes: 3000)])
    func aConnectionLostMidResponseIsRetriedAndTheRunSucceeds(fault: FaultProxy.Mode) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let proxy = try fixture.startProxy()
        defer { Task { await proxy.stop() } }
        proxy.setMode(fault, times: 2)

        let outcome = try await fixture.sluice.throughProxy(proxy).run(fixture.apiRunArguments(retries: 3))
        let manifest = try await APIChecks.expectSucceeded(fixture, outcome)
        #expect(proxy.stats.faults == 2)
        #expect(manifest.stage("fetch")?.counters["retries"] == 2)
        try await FaultChecks.expectEnriched(fixture, before: before)
        let again = try await APIChecks.expectRerunChangesNothing(fixture)
        try await APIChecks.expectNoSecrets(fixture, outputs: [outcome, again])
    }

    @Test func aRefusedConnectionStopsResumablyNamingTheHostAndResumeConvergesOnceItListens() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let proxy = try fixture.startProxy()
        defer { Task { await proxy.stop() } }
        proxy.setMode(.refuse)

        let started = ContinuousClock.now
        let stopped = try await fixture.sluice.throughProxy(proxy).run(
            fixture.apiRunArguments(retries: 2, timeout: "120s"))
        #expect(ContinuousClock.now - started < .seconds(60), "an attempt waited for the 120 s timeout")
        try await APIChecks.expectStoppedResumably(
            fixture, stopped, before: before,
            mentions: ["gave up after 3 attempts; the last one: connection failed: connection refused", proxy.address])
        #expect(fixture.apiLog().isEmpty)

        proxy.setMode(.pass)
        let resumed = try await APIChecks.expectResumeConverges(
            fixture, sluice: fixture.sluice.throughProxy(proxy), before: before)
        #expect(proxy.stats.connections > 0)
        try await APIChecks.expectNoSecrets(fixture, outputs: [stopped, resumed])
    }

    @Test func aHostNameThatDoesNotResolveStopsResumablyNamingTheHost() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        var sluice = fixture.sluice
        sluice.environment["SPOTIFY_API_URL"] = "http://nonexistent.invalid/v1"
        sluice.environment["SPOTIFY_TOKEN_URL"] = "http://nonexistent.invalid/api/token"

        let started = ContinuousClock.now
        let stopped = try await sluice.run(fixture.apiRunArguments(retries: 2, timeout: "120s"))
        #expect(ContinuousClock.now - started < .seconds(60), "an attempt waited for the 120 s timeout")
        try await APIChecks.expectStoppedResumably(
            fixture, stopped, before: before,
            mentions: [
                "gave up after 3 attempts", "token endpoint http://nonexistent.invalid/api/token",
                "the host name nonexistent.invalid is not known (DNS: ",
            ])
        #expect(fixture.simulator.stats().tokenRequests == 0)

        let resumed = try await APIChecks.expectResumeConverges(fixture, before: before)
        try await APIChecks.expectNoSecrets(fixture, outputs: [stopped, resumed])
    }

    /// An API answering in HTTP/0.9 style (its body alone, no status line): each attempt says
    /// so in words, naming the host, and the run stops resumably once its retries are spent.
    @Test func anAnswerWithoutAStatusLineStopsResumablySayingSoNamingTheHost() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let server = try RawReplyServer(reply: "{\"tracks\": []}\n")
        defer { Task { await server.stop() } }
        var sluice = fixture.sluice
        sluice.environment["SPOTIFY_API_URL"] = "http://127.0.0.1:\(server.port)/v1"

        let stopped = try await sluice.run(fixture.apiRunArguments(retries: 1))
        try await APIChecks.expectStoppedResumably(
            fixture, stopped, before: before,
            mentions: [
                "gave up after 2 attempts; the last one: the server's answer is not HTTP: no status line",
                "http://127.0.0.1:\(server.port)/v1/tracks",
            ])
        #expect(!(stopped.stdout + stopped.stderr).contains("invalid constant"), "\(stopped.stderr)")
    }

    // MARK: Bodies

    /// A `tracks` array one short: attached by position, every track would land on the row before
    /// it. It must be asked again, never attached; here the second answer is right, so every row
    /// ends with its own values.
    @Test func aTracksArrayOfTheWrongLengthIsAskedAgainAndNeverAttachedByPosition() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        fixture.simulator.scheduleFaults([.wrongTrackCount])

        let outcome = try await fixture.sluice.run(fixture.apiRunArguments())
        let manifest = try await APIChecks.expectSucceeded(fixture, outcome)
        #expect(fixture.simulator.stats().faultsInjected == 1)
        #expect(manifest.stage("fetch")?.counters["retries"] == 1)
        try await FaultChecks.expectEnriched(fixture, before: before)
        let again = try await APIChecks.expectRerunChangesNothing(fixture)
        try await APIChecks.expectNoSecrets(fixture, outputs: [outcome, again])
    }

    // MARK: The same fault on every attempt

    /// A 429 without Retry-After (sluice backs off on its own), a body cut in half, a `tracks`
    /// array one short: asked again up to the retry budget, never attached, and then the run
    /// stops resumably saying what the last answer was, with the table as before. No storm: the
    /// four attempts of the first batch are all the API sees, with one token.
    @Test(arguments: [
        (Fault.tooManyRequests429WithoutRetryAfter, "HTTP 429 without Retry-After"),
        (.truncatedJSON, "HTTP 200 with a body that is not valid JSON"),
        (.wrongTrackCount, "HTTP 200 but the body's \"tracks\" has 49 items for 50 ids"),
    ])
    func theSameFaultOnEveryAttemptStopsResumablyAfterTheRetryBudget(fault: Fault, said: String) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120) {
            $0.faults.rate = 1
            $0.faults.kinds = [fault]
        }
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        let stopped = try await fixture.sluice.run(fixture.apiRunArguments(retries: 3))
        try await APIChecks.expectStoppedResumably(
            fixture, stopped, before: before, mentions: ["gave up after 4 attempts; the last one: \(said)"])
        #expect(fixture.apiLog().map(\.fault) == Array(repeating: fault, count: 4))
        #expect(fixture.simulator.stats().tokenRequests == 1)

        fixture.simulator.setConfiguration { $0.faults.rate = 0 }
        let resumed = try await APIChecks.expectResumeConverges(fixture, before: before)
        try await APIChecks.expectNoSecrets(fixture, outputs: [stopped, resumed])
    }

    // MARK: Credentials

    @Test func anAccessTokenThatExpiresMidRunIsReplacedOnceAndTheRunSucceeds() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 400)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        // Eight requests half a second apart: the tokens expire while six are still to come,
        // even on a loaded machine.
        let (process, out, err) = try fixture.sluice.start(
            fixture.apiRunArguments() + ["--set", "fetch.delay=0.5s"])
        defer { FaultChecks.stop(process) }
        try await FaultChecks.eventually("two answers from the API") { fixture.apiLog().count >= 2 }
        fixture.simulator.expireTokens()
        let outcome = await FaultChecks.finish(process, out, err, within: .seconds(60))
        let manifest = try await APIChecks.expectSucceeded(fixture, outcome)
        let expired = fixture.apiLog().filter { $0.status == 401 }
        #expect(expired.count == 1, "one request with the expired token, then a new one")
        #expect(fixture.simulator.stats().tokenRequests == 2)
        #expect(manifest.stage("fetch")?.counters["token_refreshes"] == 1)
        #expect(manifest.stage("fetch")?.counters["retries"] == 0, "a replaced token is not a retry")
        try await FaultChecks.expectEnriched(fixture, before: before)
        let again = try await APIChecks.expectRerunChangesNothing(fixture)
        try await APIChecks.expectNoSecrets(fixture, outputs: [outcome, again])
    }

    /// A token endpoint that answers 429 with `Retry-After: 2` (and 429 again to any token request
    /// sent before those 2 s are over): the token request is sent again only once the wait is over,
    /// not after the plan's 0.05 s backoff, and the run succeeds.
    @Test func aTokenEndpointsRetryAfterIsWaitedOutBeforeItIsAskedAgain() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120) { $0.tokenRetryAfter = .seconds(2) }
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        let outcome = try await fixture.sluice.run(fixture.apiRunArguments())
        try await APIChecks.expectSucceeded(fixture, outcome)
        let asked = fixture.tokenLog()
        #expect(asked.map(\.status) == [429, 200], "one refused token request, then one after the wait")
        if asked.count == 2 {
            #expect(asked[1].time - asked[0].time >= .seconds(2), "asked again before the Retry-After ended")
        }
        try await FaultChecks.expectEnriched(fixture, before: before)
        try await APIChecks.expectNoSecrets(fixture, outputs: [outcome])
    }

    /// A token endpoint's `Retry-After` over `max_retry_after` stops the run at once, resumably,
    /// recording when the wait the endpoint gave ends, as an API's 429 over the cap does.
    @Test func aTokenEndpointsRetryAfterOverTheCapStopsAtOnceRecordingTheWait() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120) { $0.tokenRetryAfter = .seconds(900) }
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        let stopped = try await fixture.sluice.run(fixture.apiRunArguments())
        let manifest = try await APIChecks.expectStoppedResumably(
            fixture, stopped, before: before,
            mentions: ["the token endpoint asked to wait 900 s", "max_retry_after", "/api/token"])
        let notBefore = try #require(manifest.error?.notBefore)
        // Judged against the endpoint's own 900 s: a run that retried or slept would end after it.
        #expect(Date() < notBefore && notBefore.timeIntervalSinceNow > 800)
        #expect(stopped.stdout.contains("continue after "), "\(stopped.stdout)")
        #expect(fixture.tokenLog().map(\.status) == [429], "nothing asked again during the wait")
        #expect(fixture.apiLog().isEmpty)
    }

    @Test func invalidClientCredentialsFailAtOnceWithOneTokenRequestAndAClearMessage() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let wrong = "not-the-client-secret-4711"
        var sluice = fixture.sluice
        sluice.environment["SPOTIFY_CLIENT_SECRET"] = wrong

        // A generous retry budget and four batches at once: still one token request.
        let started = ContinuousClock.now
        let failed = try await sluice.run(
            fixture.apiRunArguments(retries: 5, timeout: "120s") + ["--set", "fetch.concurrency=4"])
        #expect(ContinuousClock.now - started < .seconds(60), "an attempt waited for the 120 s timeout")
        #expect(failed.status == 1, "not resumable: the plan's credentials need fixing\n\(failed.stderr)")
        let manifest = try await FaultChecks.expectFailed(
            fixture, failed, stage: "fetch",
            mentions: [
                "refused the client credentials", "sluice-demo-client", "invalid_client", "client id and secret",
            ],
            secrets: [wrong])
        #expect(manifest.error?.resumable == false)
        #expect(manifest.resumeCommand == nil)
        #expect(fixture.simulator.stats().tokenRequests == 1, "no retry storm against the token endpoint")
        #expect(fixture.apiLog().isEmpty)
        #expect(try await fixture.table() == before)

        let resumed = try await APIChecks.expectResumeConverges(fixture, before: before)
        try await APIChecks.expectNoSecrets(fixture, outputs: [failed, resumed], extra: [wrong])
    }
}

// MARK: - Checks of the API fault tests

enum APIChecks {
    /// The run succeeded (exit 0), every stage with it.
    @discardableResult
    static func expectSucceeded(
        _ fixture: EnrichmentFixture, _ outcome: SluiceProcess.Outcome,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Manifest {
        #expect(outcome.status == 0, "\(outcome.stdout)\n\(outcome.stderr)", sourceLocation: sourceLocation)
        let manifest = try #require(await fixture.manifests().last?.manifest, sourceLocation: sourceLocation)
        #expect(manifest.status == .succeeded, sourceLocation: sourceLocation)
        #expect(manifest.stages.allSatisfy { $0.status == .succeeded }, sourceLocation: sourceLocation)
        return manifest
    }

    /// The run stopped in fetch as resumable (exit 4): the manifest and the output say why
    /// (every one of `mentions`) and print `sluice resume` for it, and the table is exactly as before.
    @discardableResult
    static func expectStoppedResumably(
        _ fixture: EnrichmentFixture, _ outcome: SluiceProcess.Outcome, before: [String: [String?]],
        approved: Bool = true, mentions: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Manifest {
        #expect(outcome.status == 4, "\(outcome.stdout)\n\(outcome.stderr)", sourceLocation: sourceLocation)
        let manifest = try await FaultChecks.expectFailed(
            fixture, outcome, stage: "fetch", mentions: mentions, sourceLocation: sourceLocation)
        #expect(manifest.error?.resumable == true, sourceLocation: sourceLocation)
        // `sluice resume` reuses the answers; `--yes` only when the run had it, so review stays.
        let directory = try await fixture.lastRunDirectory().path
        #expect(
            manifest.resumeCommand == "sluice resume \(directory)" + (approved ? " --yes" : ""),
            sourceLocation: sourceLocation)
        #expect(outcome.stdout.contains(manifest.resumeCommand ?? "?"), sourceLocation: sourceLocation)
        #expect(manifest.stage("apply")?.status != .succeeded, sourceLocation: sourceLocation)
        #expect(try await fixture.table() == before, sourceLocation: sourceLocation)
        return manifest
    }

    /// `sluice resume` of the last run succeeds and leaves the table fully enriched.
    static func expectResumeConverges(
        _ fixture: EnrichmentFixture, sluice: SluiceProcess? = nil, before: [String: [String?]],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> SluiceProcess.Outcome {
        let resumed = try await (sluice ?? fixture.sluice).run(["resume", fixture.lastRunDirectory().path, "--yes"])
        try await expectSucceeded(fixture, resumed, sourceLocation: sourceLocation)
        try await FaultChecks.expectEnriched(fixture, before: before, sourceLocation: sourceLocation)
        return resumed
    }

    /// A fresh run after a successful one succeeds and changes nothing.
    static func expectRerunChangesNothing(
        _ fixture: EnrichmentFixture, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> SluiceProcess.Outcome {
        let enriched = try await fixture.table()
        let again = try await fixture.sluice.run(fixture.apiRunArguments())
        let manifest = try await expectSucceeded(fixture, again, sourceLocation: sourceLocation)
        #expect(manifest.stage("apply")?.counters["changed"] == 0, sourceLocation: sourceLocation)
        #expect(try await fixture.table() == enriched, sourceLocation: sourceLocation)
        return again
    }

    /// ``FaultChecks/expectNoSecrets(_:outputs:extra:runsDirectory:sourceLocation:)`` with every
    /// access token the simulator issued counted as a secret.
    static func expectNoSecrets(
        _ fixture: EnrichmentFixture, outputs: [SluiceProcess.Outcome], extra: [String] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let tokens = fixture.simulator.issuedTokens()
        #expect(!tokens.isEmpty, sourceLocation: sourceLocation)
        try await FaultChecks.expectNoSecrets(
            fixture, outputs: outputs, extra: extra + tokens, sourceLocation: sourceLocation)
    }
}

extension EnrichmentFixture {
    /// `sluice run` (with `--yes` when `approve`) and fetch settings under which each fault costs
    /// seconds: a short timeout and backoff, `retries` retries, a 5 s cap on Retry-After.
    func apiRunArguments(retries: Int = 2, timeout: String = "5s", approve: Bool = true) -> [String] {
        let settings = [
            "fetch.timeout=\(timeout)", "fetch.retries=\(retries)", "fetch.backoff=0.05s", "fetch.max_backoff=0.2s",
            "fetch.max_retry_after=5s",
        ]
        return runArguments((approve ? ["--yes"] : []) + settings.flatMap { ["--set", $0] })
    }

    /// The simulator's `/v1` requests, in arrival order (token requests left out).
    func apiLog() -> [RequestRecord] {
        simulator.stats().requestLog.filter { $0.path.hasPrefix("/v1") }
    }

    /// The simulator's token requests, in arrival order.
    func tokenLog() -> [RequestRecord] {
        simulator.stats().requestLog.filter { $0.path == "/api/token" }
    }

    /// A started ``FaultProxy`` in front of the simulator.
    func startProxy() throws -> FaultProxy {
        let proxy = FaultProxy(targetPort: try #require(simulator.port))
        try proxy.start()
        return proxy
    }
}

extension SluiceProcess {
    /// The same sluice, with its API requests (not its token requests) sent through `proxy`.
    func throughProxy(_ proxy: FaultProxy) -> SluiceProcess {
        var sluice = self
        sluice.environment["SPOTIFY_API_URL"] = "http://\(proxy.address)/v1"
        return sluice
    }
}
