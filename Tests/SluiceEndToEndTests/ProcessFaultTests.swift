import Foundation
import SluiceCore
import SluicePipeline
import SluiceTestSupport
import SpotifySimulator
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The process half of the fault matrix (issue 7): the real `sluice` binary runs
/// `plans/spotify-enrichment.yaml` while the test signals it during apply, fills or freezes the
/// disk it writes to, or starts a second run of the same plan beside it. Every case checks a
/// clear final status and exit code, the table exactly as before or fully enriched, no secret
/// anywhere sluice wrote or printed, and a re-run that converges.
@Suite(.serialized)
struct ProcessFaultTests {
    /// The advisory lock a verify of these tests waits on.
    static let verifyGate = 72_001
    /// The advisory lock an apply's `ANALYZE` of these tests waits on.
    static let analyzeGate = 72_002

    // MARK: Signals during apply

    /// Ctrl-C, a `kill`, the terminal going away (SIGHUP) and Ctrl-\ (SIGQUIT, which the Swift
    /// runtime would answer with a crash report and then carry on) all end the run cleanly.
    @Test(arguments: [SIGINT, SIGTERM, SIGHUP, SIGQUIT])
    func aSignalWhileApplyWaitsEndsInterruptedChangesNothingAndAReplayOfApplyConverges(signal: Int32) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        let (held, out, err) = try await fixture.startApplyHeldOnARow()
        defer { FaultChecks.stop(held.process) }
        kill(held.process.processIdentifier, signal)
        let interrupted = await FaultChecks.finish(held.process, out, err, within: .seconds(60))
        await held.lock.release()
        #expect(interrupted.status == 130, "\(interrupted.stderr)")
        #expect(!interrupted.stderr.contains("crashed"), "\(interrupted.stderr)")
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.status == .interrupted)
        #expect(manifest.finishedAt != nil)
        #expect(manifest.stage("apply")?.status == .cancelled)
        #expect(manifest.stage("apply")?.outputs.contains { $0.kind == "undo" } == false, "no undo file for no change")
        #expect(manifest.stage("apply")?.counters["transaction_began"] == 1)
        #expect(manifest.stage("verify")?.status != .succeeded)
        #expect(interrupted.stdout.contains("interrupted"), "the summary says how the run ended")
        // As a failure's error does, the summary says the apply changed nothing.
        #expect(
            interrupted.stdout.contains(
                "stage 'apply' was interrupted before it committed: its transaction rolled back, nothing was changed "
                    + "in tracks\n"), "\(interrupted.stdout)")
        try await fixture.waitForNoSluiceBackends()
        #expect(try await fixture.table() == before)

        try await FaultChecks.expectConverges(
            fixture, before: before, running: ["replay", fixture.lastRunDirectory().path, "--from", "apply", "--yes"],
            after: [interrupted])
    }

    /// `sluice apply FILE` interrupted while its UPDATE waits for a row: its transaction rolled
    /// back, and the summary says so. An interrupted `--dry-run` is continued as a dry run: the
    /// command it prints and records never approves (it used to end in `--yes`, committing a preview).
    @Test(arguments: [true, false])
    func anInterruptedApplyOfACSVSaysItRolledBackAndADryRunIsContinuedAsOne(dryRun: Bool) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let csv = try await fixture.reviewedCSV()
        let before = try await fixture.table()
        let interrupted = try await fixture.interruptApplyHeldOnARow(
            ["apply", "plans/spotify-enrichment.yaml", csv.path, "--runs-dir", fixture.runsDirectory]
                + [dryRun ? "--dry-run" : "--yes"])
        #expect(interrupted.status == 130, "\(interrupted.stderr)")
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.stage("apply")?.counters["transaction_began"] == 1)
        #expect(
            interrupted.stdout.contains(
                "stage 'apply' was interrupted before it committed: its transaction rolled back, nothing was changed "
                    + "in tracks\n"), "\(interrupted.stdout)")
        let command = try #require(manifest.resumeCommand)
        if dryRun { #expect(command.hasSuffix(" --dry-run") && !command.contains("--yes"), "\(command)") }
        #expect(interrupted.stdout.contains(command), "\(interrupted.stdout)")
        try await fixture.waitForNoSluiceBackends()
        #expect(try await fixture.table() == before)
    }

    /// Ctrl-C during `sluice undo` rolls the undo back and says so; the undo can run again.
    @Test func aSignalDuringUndoRollsItBackAndSaysSo() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let applied = try await fixture.run(["--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        let enriched = try await fixture.table()
        let run = try await fixture.lastRunDirectory()

        let (held, out, err) = try await fixture.startApplyHeldOnARow(["undo", run.path, "--yes"])
        defer { FaultChecks.stop(held.process) }
        kill(held.process.processIdentifier, SIGINT)
        let interrupted = await FaultChecks.finish(held.process, out, err, within: .seconds(60))
        await held.lock.release()
        #expect(interrupted.status == 130, "\(interrupted.stderr)")
        #expect(
            interrupted.stderr.contains("sluice: undo interrupted: rolled back, nothing was changed"),
            "\(interrupted.stderr)")
        try await fixture.waitForNoSluiceBackends()
        #expect(try await fixture.table() == enriched)
        #expect(try #require(await fixture.manifests().last?.manifest).undos.isEmpty)

        let undone = try await fixture.sluice.run(["undo", run.path, "--yes"])
        #expect(undone.status == 0, "\(undone.stderr)")
        #expect(try await fixture.table() == before)
    }

    /// Runs the plan to its gate, then interrupts its approval (`replay --from apply --yes`)
    /// while the UPDATE waits for a row: the replay's run directory and manifest, and the API
    /// requests made (all of them the gate run's).
    static func interruptAnApproval(_ fixture: EnrichmentFixture) async throws -> (URL, Manifest, Int) {
        let stopped = try await fixture.run()
        #expect(stopped.status == 3, "awaiting approval: \(stopped.stderr)")
        let reviewed = try await fixture.lastRunDirectory()
        let asked = fixture.simulator.stats().apiRequests
        let (held, out, err) = try await fixture.startApplyHeldOnARow(
            ["replay", reviewed.path, "--from", "apply", "--yes"])
        defer { FaultChecks.stop(held.process) }
        kill(held.process.processIdentifier, SIGINT)
        let interrupted = await FaultChecks.finish(held.process, out, err, within: .seconds(60))
        await held.lock.release()
        #expect(interrupted.status == 130, "\(interrupted.stderr)")
        let (directory, manifest) = try #require(await fixture.manifests().last)
        return (directory, manifest, asked)
    }

    /// `sluice resume` of an interrupted `replay --from apply` applies the reviewed rows again: it
    /// never runs the query or asks the API, so nothing unreviewed reaches the table.
    @Test func resumingAnInterruptedReplayOfApplyAppliesTheReviewedRowsWithoutFetching() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let (replayRun, replay, asked) = try await Self.interruptAnApproval(fixture)
        #expect(replay.replayOf?.runID != nil && replay.status == .interrupted)
        #expect(try await fixture.table() == before)

        let resumed = try await fixture.sluice.run(["resume", replayRun.path, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming replays from 'apply' again"), "\(resumed.stderr)")
        #expect(fixture.simulator.stats().apiRequests == asked, "resume asked the API again")
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.replayOf?.runID == replay.runID)
        // Recorded as the resume it was; the interrupted replay stays a replay.
        #expect(manifest.replayOf?.resumed == true && replay.replayOf?.resumed == false)
        #expect(resumed.stdout.contains("(resume of \(replay.runID), from apply)"), "\(resumed.stdout)")
        #expect(manifest.stage("query")?.status == .skipped && manifest.stage("fetch")?.status == .skipped)
        #expect(manifest.stage("apply")?.status == .succeeded)
        try await FaultChecks.expectEnriched(fixture, before: before)

        // The gate was approved by that resume of its approval: listed so, not as a review the
        // resume's apply superseded, and no longer open to a rejection.
        let gate = try #require(await fixture.manifests().first?.manifest)
        let listed = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory, "--json"])
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        let listedGate = try #require(runs.first { $0["run_id"] as? String == gate.runID })
        #expect(listedGate["state"] as? String == "awaiting-approval, approved", "\(listed.stdout)")
        #expect(listedGate["continued_by"] as? String == manifest.runID, "\(listed.stdout)")
        #expect(listedGate["superseded_by"] is NSNull, "\(listed.stdout)")
        let rejected = try await fixture.sluice.run(["reject", gate.runID, "--runs-dir", fixture.runsDirectory])
        #expect(rejected.status == 1, "\(rejected.stderr)")
        #expect(
            rejected.stderr.contains("run \(manifest.runID) approved run \(gate.runID) already"), "\(rejected.stderr)")
    }

    /// An undo started while a later apply waited for a row: that apply had not committed when
    /// the undo looked for later runs, then committed before the undo got the table. The undo
    /// leaves that run's cells as they are (partly undone, exit 6) and names the run to undo first.
    @Test func anUndoThatWaitedForALaterApplyNamesIt() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 60)
        defer { Task { await fixture.tearDown() } }
        let applied = try await fixture.run(["--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        let (first, manifest) = try #require(await fixture.manifests().last)
        // The same rows with every popularity moved by one: a later, different apply.
        var rows = try await fixture.auditRows(of: manifest, in: first)
        for index in rows.indices.dropFirst() {
            if let popularity = Int(rows[index][2]) { rows[index][2] = String((popularity + 1) % 101) }
        }
        let edited = fixture.directory.appendingPathComponent("moved.csv")
        try await Files.write(Array(CSVText.lines(rows, end: "\n").utf8), to: edited)

        let later = try await fixture.startApplyHeldOnARow([
            "apply", "plans/spotify-enrichment.yaml", edited.path, "--yes", "--runs-dir", fixture.runsDirectory,
        ])
        defer { FaultChecks.stop(later.0.process) }
        let laterRun = try #require(await fixture.manifests().last?.manifest.runID)
        let (undo, undoOut, undoErr) = try fixture.sluice.start(["undo", first.path, "--yes"])
        defer { FaultChecks.stop(undo) }
        try await FaultChecks.eventually("the undo to wait for the table") {
            try await fixture.sluiceBackends().filter { $0.waitEventType == "Lock" }.count >= 2
        }
        await later.0.lock.release()
        let laterDone = await FaultChecks.finish(later.0.process, later.1, later.2, within: .seconds(60))
        // Committed; its verify may already see what the undo put back of the first run's cells.
        #expect([0, 5].contains(laterDone.status), "\(laterDone.stderr)")
        let undone = await FaultChecks.finish(undo, undoOut, undoErr, within: .seconds(60))
        #expect(undone.status == 6, "\(undone.stderr)")
        #expect(
            undone.stderr.contains(
                "note: a later run applied to tracks while this undo waited for the table: \(laterRun) (stage "
                    + "'apply'); to put back all the way, undo it then this run again (sluice undo \(laterRun)"),
            "\(undone.stderr)")
    }

    /// Resuming an interrupted approval stays held to the review the person saw: a row someone
    /// changed since is not written over. (The resume used to review afresh in its own
    /// transaction and overwrite it.)
    @Test func aResumeOfAnInterruptedApprovalIsHeldToTheSameReview() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let (replayRun, _, _) = try await Self.interruptAnApproval(fixture)
        let changed = try fixture.aTrackThatWillChange()
        _ = try await fixture.server.execute(
            "UPDATE tracks SET isrc = 'EDITEDBYHAND' WHERE id = '\(changed)'", conninfo: fixture.conninfo)
        let before = try await fixture.table()
        let resumed = try await fixture.sluice.run(["resume", replayRun.path, "--yes"])
        #expect(resumed.status == 1, "\(resumed.stderr)")
        let said = resumed.stdout + resumed.stderr
        #expect(said.contains("changed since the review"), "\(said)")
        #expect(said.contains(changed), "\(said)")
        #expect(try await fixture.table() == before)
    }

    /// Two `sluice resume`s of the same run at once: the second is refused while the first runs
    /// (it would ask the API for the same ids and leave a second review of the same rows).
    @Test func aSecondResumeOfARunBeingResumedIsRefused() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 60)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let (held, out, err) = try await fixture.startApplyHeldOnARow()
        defer { FaultChecks.stop(held.process) }
        kill(held.process.processIdentifier, SIGKILL)
        _ = await FaultChecks.finish(held.process, out, err, within: .seconds(60))
        let killed = try #require(await fixture.manifests().last)
        try await FaultChecks.eventually("the server to end the killed run's session", within: .seconds(60)) {
            try await fixture.sluiceBackends().isEmpty
        }
        // The first resume's apply waits for the row still held.
        let (first, firstOut, firstErr) = try fixture.sluice.start(["resume", killed.directory.path, "--yes"])
        defer { FaultChecks.stop(first) }
        try await FaultChecks.eventually("the resume's UPDATE to wait for the row", within: .seconds(60)) {
            try await fixture.sluiceBackends().contains { $0.query.hasPrefix("UPDATE") && $0.waitEventType == "Lock" }
        }
        let runs = await fixture.manifests().count
        let second = try await fixture.sluice.run(["resume", killed.directory.path, "--yes"])
        #expect(second.status == 1, "\(second.stderr)")
        #expect(
            second.stderr.contains("error: another sluice process is resuming run \(killed.manifest.runID) now"),
            "\(second.stderr)")
        #expect(await fixture.manifests().count == runs, "the refused resume started no run")
        await held.lock.release()
        let resumed = await FaultChecks.finish(first, firstOut, firstErr, within: .seconds(120))
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
    }

    /// A run killed during its verify committed its apply: `sluice runs` says so beside "process
    /// gone" (it listed only `running, process gone`; `runs show` knew). The kill is simulated:
    /// an applied run's manifest as a kill during verify leaves it, its process one that exited.
    @Test func aRunKilledAfterItsApplyCommittedIsListedAsHavingCommitted() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        let (_, run) = try await fixture.applyReviewedCSV()
        try await fixture.leaveAsKilledDuringVerify(run)

        let listed = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(listed.stdout.contains("running, process gone, apply committed"), "\(listed.stdout)")
        #expect(try await fixture.sluice.run(["undo", run.path, "--yes"]).status == 0)
        let undone = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(undone.stdout.contains("running, process gone, undone"), "\(undone.stdout)")
    }

    /// An approval killed during its verify (its apply committed), resumed (the resume runs
    /// the verify alone and changes nothing), then undone: the gate waits again. It was listed
    /// as approved, through the resume that had changed nothing before the undo.
    @Test func aGateWhoseOnlyCommittedApprovalWasUndoneWaitsAgain() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        #expect(try await fixture.run().status == 3)
        let gate = try await fixture.lastRunDirectory()
        #expect(try await fixture.sluice.run(["replay", gate.path, "--from", "apply", "--yes"]).status == 0)
        let approval = try await fixture.lastRunDirectory()
        try await fixture.leaveAsKilledDuringVerify(approval)
        let resumed = try await fixture.sluice.run(["resume", approval.path, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let resume = try await fixture.lastRunDirectory().lastPathComponent
        #expect(try await fixture.sluice.run(["undo", approval.path, "--yes"]).status == 0)
        #expect(try await fixture.table() == before)

        let listed = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        let line = try #require(listed.stdout.split(separator: "\n").first { $0.hasPrefix(gate.lastPathComponent) })
        #expect(!line.contains("approved") && !line.contains(resume), "\(listed.stdout)")
        #expect(line.hasSuffix("continued by \(approval.lastPathComponent) (undone since)"), "\(listed.stdout)")
        // Rejecting it, as a gate that waits, is not refused.
        let rejected = try await fixture.sluice.run(["reject", gate.path, "--reason", "stale"])
        #expect(rejected.status == 0, "\(rejected.stderr)")
    }

    /// A run killed (SIGKILL: nothing runs to record it) or interrupted (Ctrl-C) while its verify
    /// runs, after its apply committed: `sluice resume` runs the verify alone, asking the API
    /// nothing and not running the apply again, saying the apply stands and whose undo puts it
    /// back; `runs` and `runs show` say the same. It ran the whole plan again: the query, the
    /// fetch and the apply. The verify waits on an advisory lock the test holds, so the signal
    /// lands inside it.
    @Test(arguments: [SIGKILL, SIGINT])
    func aRunStoppedDuringItsVerifyAfterItsApplyCommittedResumesTheVerifyAlone(signal: Int32) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 30)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let gate = try await fixture.holdAdvisoryLock(Self.verifyGate)
        let check =
            "verify.checks=[{name: gated, sql: 'SELECT COUNT(isrc) AS isrc, (SELECT count(*) FROM (SELECT "
            + "pg_advisory_lock_shared(\(Self.verifyGate))) AS g) AS gate FROM tracks', expect: {isrc: "
            + "'>= {{ stages.apply.filled_isrc }}', gate: '>= 1'}}]"
        let (process, out, err) = try fixture.sluice.start(fixture.runArguments(["--yes", "--set", check]))
        defer { FaultChecks.stop(process) }
        try await fixture.waitForASession("the verify", toWaitFor: gate) { $0.contains("pg_advisory_lock_shared") }
        kill(process.processIdentifier, signal)
        let stopped = await FaultChecks.finish(process, out, err, within: .seconds(60))
        await gate.release()
        let (directory, manifest) = try #require(await fixture.manifests().last)
        #expect(manifest.stage("apply")?.status == .succeeded && manifest.stage("verify")?.status != .succeeded)
        #expect(signal == SIGKILL ? manifest.isAbandoned : manifest.status == .interrupted, "\(stopped.stderr)")
        let enriched = try await fixture.table()
        #expect(enriched != before)
        let asked = fixture.simulator.stats().apiRequests

        let listed = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        let state = signal == SIGKILL ? "running, process gone, apply committed" : "interrupted, apply committed"
        #expect(listed.stdout.contains(state), "\(listed.stdout)")
        // The summary, the one the interrupted run printed and `runs show`'s, offers the undo and
        // a resume that keeps the change.
        let keep =
            "to keep the change and run stage 'verify' and the stages after it again (the apply does not run "
            + "again), continue"
        let shown = try await fixture.sluice.run(["runs", "show", directory.path])
        for summary in signal == SIGKILL ? [shown.stdout] : [shown.stdout, stopped.stdout] {
            #expect(summary.contains("  sluice undo \(directory.path) --yes\n"), "\(summary)")
            #expect(summary.contains(keep), "\(summary)")
        }

        let resumed = try await fixture.sluice.run(["resume", directory.path, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)\n\(resumed.stdout)")
        let how = signal == SIGKILL ? "its process died" : "it was interrupted"
        #expect(
            resumed.stderr.contains(
                "note: stage 'apply' of run \(manifest.runID) committed, then \(how) in stage 'verify': the resume "
                    + "runs 'verify' and the stages after it, not the apply, whose change stands; to put the apply "
                    + "back instead: sluice undo \(directory.path)"),
            "\(resumed.stderr)")
        #expect(resumed.stdout.contains("(resume of \(manifest.runID), from verify)"), "\(resumed.stdout)")
        let resume = try #require(await fixture.manifests().last?.manifest)
        #expect(resume.replayOf?.runID == manifest.runID && resume.replayOf?.resumed == true)
        #expect(resume.stages.filter { $0.status != .skipped }.map(\.name) == ["verify"])
        #expect(resume.status == .succeeded && resume.stage("verify")?.counters["passed"] == 2)
        #expect(fixture.simulator.stats().apiRequests == asked, "the resume asked the API")
        #expect(try await fixture.table() == enriched)
    }

    /// A run killed after its apply's COMMIT and before the apply's end, during its `ANALYZE`:
    /// the manifest said the apply `running` with nothing recorded, `sluice runs` that it may
    /// have applied, and `sluice resume` ran the whole plan again. The apply records its COMMIT
    /// before the ANALYZE (`committed_at`, its undo file and counters), so the run lists as
    /// committed and the resume runs the verify alone; with no verify in the plan, there is
    /// nothing to resume. The ANALYZE (120 rows written: more than 50 and a tenth of the table)
    /// computes the statistics of an expression whose function waits, under ANALYZE only, on an
    /// advisory lock the test holds, with no `lock_timeout` (the apply's ANALYZE gives up on a
    /// busy table after 100 ms).
    @Test(arguments: [true, false])
    func aRunKilledDuringItsApplysAnalyzeAfterItsCommitResumesTheStagesAfterIt(verified: Bool) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        _ = try await fixture.server.execute(
            """
            CREATE FUNCTION analyze_gate(text) RETURNS text LANGUAGE plpgsql IMMUTABLE SET lock_timeout = 0 AS $$
            BEGIN
                IF current_query() ~* '^\\s*analyze' THEN
                    PERFORM pg_advisory_xact_lock_shared(\(Self.analyzeGate));
                END IF;
                RETURN $1;
            END $$;
            CREATE STATISTICS tracks_analyze_gate ON (analyze_gate(isrc)) FROM tracks;
            ALTER TABLE tracks OWNER TO \(TestPostgres.passwordRole)
            """, conninfo: fixture.conninfo)
        var arguments = fixture.runArguments(["--yes"])
        if !verified {
            // The Spotify plan without its verify: the apply is its last stage.
            let text = try await Files.text(SluiceProcess.root.appendingPathComponent("plans/spotify-enrichment.yaml"))
            let verify = try #require(text.range(of: "\n  - name: verify\n"))
            let plan = fixture.directory.appendingPathComponent("unverified.yaml")
            try await Files.write(Array((text[..<verify.lowerBound] + "\n").utf8), to: plan)
            arguments[1] = plan.path
        }
        let gate = try await fixture.holdAdvisoryLock(Self.analyzeGate)
        let (process, out, err) = try fixture.sluice.start(arguments)
        defer { FaultChecks.stop(process) }
        try await fixture.waitForASession("the apply's ANALYZE", toWaitFor: gate) {
            $0.uppercased().hasPrefix("ANALYZE")
        }
        kill(process.processIdentifier, SIGKILL)
        let stopped = await FaultChecks.finish(process, out, err, within: .seconds(60))
        await gate.release()
        let (directory, manifest) = try #require(await fixture.manifests().last)
        let apply = try #require(manifest.stage("apply"))
        #expect(manifest.isAbandoned, "\(stopped.stderr)")
        #expect(apply.status == .running && apply.finishedAt == nil)
        let recorded = try await Files.text(Manifest.manifestURL(for: directory))
        #expect(recorded.contains("\"committed_at\": \""), "the apply's COMMIT is not recorded")
        #expect(
            apply.outputs.contains { $0.kind == "undo" && $0.rows > 0 } && apply.counters["changed", default: 0] > 0)
        let enriched = try await fixture.table()
        #expect(enriched != before)
        let asked = fixture.simulator.stats().apiRequests

        let listed = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(listed.stdout.contains("running, process gone, apply committed"), "\(listed.stdout)")
        #expect(!listed.stdout.contains("may have applied"), "\(listed.stdout)")
        let shown = try await fixture.sluice.run(["runs", "show", directory.path])
        #expect(shown.stdout.contains("  sluice undo \(directory.path) --yes\n"), "\(shown.stdout)")
        #expect(shown.stdout.contains("running, committed"), "\(shown.stdout)")
        #expect(!shown.stdout.contains("its COMMIT may have gone through"), "\(shown.stdout)")
        let next =
            verified
            ? "to keep the change and run stage 'verify' and the stages after it again (the apply does not run "
                + "again), continue"
            : "stage 'apply' had committed, and no stage after it was left to run: there is nothing to resume\n"
        #expect(shown.stdout.contains(next), "\(shown.stdout)")

        let runs = await fixture.manifests().count
        let resumed = try await fixture.sluice.run(["resume", directory.path, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)\n\(resumed.stdout)")
        let said =
            verified
            ? "ended: the resume runs 'verify' and the stages after it, not the apply"
            : "ended, with no stage after it left to run: there is nothing to resume"
        #expect(
            resumed.stderr.contains(
                "note: stage 'apply' of run \(manifest.runID) committed, then its process died before the stage "
                    + said),
            "\(resumed.stderr)")
        if verified {
            let resume = try #require(await fixture.manifests().last?.manifest)
            #expect(resume.replayOf?.runID == manifest.runID && resume.replayOf?.resumed == true)
            #expect(resume.stages.filter { $0.status != .skipped }.map(\.name) == ["verify"])
            #expect(resume.status == .succeeded, "\(resumed.stderr)")
        } else {
            #expect(await fixture.manifests().count == runs, "the resume started a run")
        }
        #expect(fixture.simulator.stats().apiRequests == asked, "the resume asked the API")
        #expect(try await fixture.table() == enriched)
    }

    @Test func aSigkillDuringApplyChangesNothingTheServerEndsTheOrphanedSessionAndResumeConverges() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        let (held, out, err) = try await fixture.startApplyHeldOnARow()
        defer { FaultChecks.stop(held.process) }
        // While its process runs it, the run is not resumed: that would be a second run beside it.
        let running = try #require(await fixture.manifests().last)
        let (resume, resumeOut, resumeErr) = try fixture.sluice.start(["resume", running.directory.path, "--yes"])
        defer { FaultChecks.stop(resume) }
        let refused = await FaultChecks.finish(resume, resumeOut, resumeErr, within: .seconds(30))
        #expect(refused.status == 1)
        #expect(
            refused.stderr.contains("is still running (pid \(held.process.processIdentifier))"), "\(refused.stderr)")
        #expect(await fixture.manifests().count == 1, "the refused resume started no run")
        kill(held.process.processIdentifier, SIGKILL)
        let killed = await FaultChecks.finish(held.process, out, err, within: .seconds(60))
        #expect(held.process.terminationReason == .uncaughtSignal)
        #expect(try await fixture.table() == before)

        // Nothing could write a final status: the manifest says how far the run got.
        let (directory, manifest) = try #require(await fixture.manifests().last)
        #expect(manifest.status == .running)
        #expect(manifest.stage("apply")?.status == .running)
        #expect(manifest.stage("write-csv")?.status == .succeeded)
        let listed = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(manifest.process?.pid == Int(held.process.processIdentifier))
        #expect(manifest.isAbandoned)
        #expect(
            listed.stdout.contains(manifest.runID) && listed.stdout.contains("running, process gone"),
            "\(listed.stdout)")
        let shown = try await fixture.sluice.run(["runs", "show", directory.path])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(
            shown.stdout.contains(
                "is gone without writing a final status: it was killed or crashed, or could no longer write the "
                    + "manifest (a full disk?)"), "\(shown.stdout)")
        // Its apply was killed waiting for a row, before COMMIT: its undo file says so (no
        // transaction line), so no undo is offered, and one asked for says there is nothing to undo.
        #expect(!shown.stdout.contains("its COMMIT may have gone through"), "\(shown.stdout)")
        let undoFile = directory.appendingPathComponent("apply.undo.ndjson")
        #expect(FileManager.default.fileExists(atPath: undoFile.path))
        let nothing = try await fixture.sluice.run(["undo", directory.path, "--dry-run"])
        #expect(nothing.status == 0, "\(nothing.stderr)")
        #expect(
            nothing.stderr.contains("note: stage 'apply' of run \(manifest.runID) did not commit"), "\(nothing.stderr)")
        // Approved up front, it goes on approved: the command is the one an interruption gives.
        #expect(shown.stdout.contains("  sluice resume \(directory.path) --yes\n"), "\(shown.stdout)")

        // The killed run's UPDATE is still waiting for the row when its client dies; the server
        // notices (client_connection_check_interval) and ends the session, rolling it back and
        // releasing the table lock, while the row is still held: nobody waits for the orphan.
        try await FaultChecks.eventually("the server to end the killed run's session", within: .seconds(60)) {
            try await fixture.sluiceBackends().isEmpty
        }
        #expect(try await fixture.table() == before)
        await held.lock.release()
        // Recorded as running on another machine, whose processes cannot be checked from here:
        // resumed, with a word about it.
        var elsewhere = manifest
        elsewhere.process?.host = "elsewhere.invalid"
        let manifestFile = Manifest.manifestURL(for: directory)
        try await BlockingIO.runOnOwnThread { [elsewhere] in try Data(elsewhere.encoded()).write(to: manifestFile) }
        let resumed = try await fixture.sluice.run(["resume", directory.path, "--yes"])
        #expect(
            resumed.stderr.contains(
                "is recorded as running on elsewhere.invalid (pid \(held.process.processIdentifier))"),
            "\(resumed.stderr)")
        let converged = try await FaultChecks.expectConverged(
            fixture, before: before, outcome: resumed, after: [killed, listed, shown])
        #expect(converged.replayOf?.runID == manifest.runID)
        #expect(converged.stage("fetch")?.counters["reused_answers", default: 0] ?? 0 > 0)
        // Every row the job changes was changed by the resume: the killed apply committed nothing.
        let after = try await fixture.table()
        let changed = after.filter { id, row in row[0...1] != before[id]?[0...1] }.count
        #expect(changed > 0)
        #expect(converged.stage("apply")?.counters["changed"] == changed)
    }

    // MARK: The disk

    @Test(.enabled(if: ScratchDisk.canMount, "mounting a tmpfs is not permitted here"))
    func aCSVOnAFullDiskFailsWriteCSVLeavingNoPartialFileAndResumeConverges() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let disk = try ScratchDisk(at: fixture.directory.appendingPathComponent("csv"), bytes: 1 << 20)
        defer { disk.unmount() }
        try await disk.fill()
        let before = try await fixture.table()
        let csvPath = "write-csv.path=\(disk.path)/spotify_enrichment_{timestamp}.csv"

        let failed = try await fixture.run(["--yes", "--set", csvPath])
        #expect(failed.status == 1, "\(failed.stderr)")
        let manifest = try await FaultChecks.expectFailed(
            fixture, failed, stage: "write-csv", mentions: ["no space left on device", disk.path])
        #expect(manifest.stage("write-csv")?.outputs.contains { $0.kind == "csv" } == false)
        #expect(manifest.stage("apply")?.status == .pending, "apply never starts without the audit trail")
        #expect(try await disk.files() == [ScratchDisk.fillerName], "a half-written CSV was left behind")
        #expect(try await fixture.table() == before)

        try await disk.unfill()
        let resumed = try await FaultChecks.expectConverges(
            fixture, before: before, running: ["resume", fixture.lastRunDirectory().path, "--yes"], after: [failed])
        #expect(
            resumed.stage("write-csv")?.outputs.contains { $0.kind == "csv" && $0.path.hasPrefix(disk.path) } == true)
    }

    @Test(
        .enabled(if: ScratchDisk.canMount, "mounting a tmpfs is not permitted here"),
        arguments: [ScratchDisk.Trouble.full, .readOnly])
    func aRunsDirectoryThatCannotBeWrittenFailsBeforeTouchingTheDatabase(trouble: ScratchDisk.Trouble) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let disk = try ScratchDisk(
            at: URL(fileURLWithPath: fixture.runsDirectory), bytes: 1 << 20, readOnly: trouble == .readOnly)
        defer { disk.unmount() }
        if trouble == .full { try await disk.fill() }
        let before = try await fixture.table()
        let requests = fixture.simulator.stats().apiRequests

        let failed = try await fixture.run(["--yes"])
        #expect(failed.status == 1, "\(failed.stderr)")
        let said = failed.stderr.lowercased()
        #expect(said.contains(trouble == .full ? "no space left on device" : "read-only file system"), "\(said)")
        #expect(said.contains(fixture.runsDirectory.lowercased()), "\(said)")
        #expect(try await disk.files() == (trouble == .full ? [ScratchDisk.fillerName] : []), "no run directory left")
        #expect(fixture.simulator.stats().apiRequests == requests, "nothing ran")
        #expect(try await fixture.table() == before)
        try await FaultChecks.expectNoSecrets(fixture, outputs: [failed])
    }

    @Test(.enabled(if: ScratchDisk.canMount, "mounting a tmpfs is not permitted here"))
    func aRunsDirectoryThatFillsUpMidRunStillEndsWithAFinalStatusAndResumeConverges() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 400)
        defer { Task { await fixture.tearDown() } }
        let disk = try ScratchDisk(at: URL(fileURLWithPath: fixture.runsDirectory), bytes: 16 << 20)
        defer { disk.unmount() }
        let before = try await fixture.table()

        // Eight requests half a second apart: the fault comes while six are still to come,
        // before the apply, even on a loaded machine.
        let (process, out, err) = try fixture.sluice.start(
            fixture.runArguments(["--yes", "--set", "fetch.delay=0.5s"]))
        defer { FaultChecks.stop(process) }
        try await fixture.waitForAPIRequests(2)
        try await disk.fill()
        let failed = await FaultChecks.finish(process, out, err, within: .seconds(60))
        #expect(failed.status == 1, "\(failed.stderr)")
        // The disk is still full, yet the manifest holds the final status and names the cause.
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.status == .failed, "\(failed.stdout)\n\(failed.stderr)")
        #expect(manifest.finishedAt != nil)
        #expect(manifest.stages.allSatisfy { $0.status != .running })
        #expect(manifest.error?.message.contains("No space left on device") == true, "\(manifest.error?.message ?? "")")
        #expect(failed.stdout.contains("No space left on device"), "\(failed.stdout)")
        #expect(manifest.stage("apply")?.status == .pending)
        #expect(try await fixture.table() == before)

        try await disk.unfill()
        try await FaultChecks.expectConverges(
            fixture, before: before, running: ["resume", fixture.lastRunDirectory().path, "--yes"], after: [failed])
    }

    @Test(.enabled(if: ScratchDisk.canMakeImmutable, "chattr +i does not work here"))
    func aRunDirectoryThatBecomesUnwritableMidRunFailsSayingTheManifestIsStaleAndResumeConverges() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 400)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        // Eight requests half a second apart: the fault comes while six are still to come,
        // before the apply, even on a loaded machine.
        let (process, out, err) = try fixture.sluice.start(
            fixture.runArguments(["--yes", "--set", "fetch.delay=0.5s"]))
        defer { FaultChecks.stop(process) }
        try await fixture.waitForAPIRequests(2)
        let directory = try await fixture.lastRunDirectory()
        // Even root cannot create, rename or remove a file in an immutable directory.
        try await ScratchDisk.setImmutable(directory, true)
        let failed = await FaultChecks.finish(process, out, err, within: .seconds(60))
        do {
            #expect(failed.status == 1, "\(failed.stderr)")
            let said = failed.stdout + failed.stderr
            #expect(said.contains("Operation not permitted"), "\(said)")
            // The manifest on disk cannot be brought up to date: sluice must say so, naming it.
            #expect(said.contains("\(directory.path)/manifest.json"), "\(said)")
            #expect(said.contains("out of date"), "\(said)")
            #expect(await fixture.manifests().last?.manifest.status == .running)
            #expect(try await fixture.table() == before)
        } catch {
            try? await ScratchDisk.setImmutable(directory, false)
            throw error
        }
        try await ScratchDisk.setImmutable(directory, false)
        try await FaultChecks.expectConverges(
            fixture, before: before, running: ["resume", directory.path, "--yes"], after: [failed])
    }

    /// An undo that commits but cannot record itself in the run's manifest (its directory
    /// immutable) fails: the run would still read as not undone, which later undos and
    /// approvals trust. The table holds the prior values all the same.
    @Test(.enabled(if: ScratchDisk.canMakeImmutable, "chattr +i does not work here"))
    func anUndoThatCannotBeRecordedFails() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 60)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        #expect(try await fixture.run(["--yes"]).status == 0)
        let directory = try await fixture.lastRunDirectory()
        #expect(try await fixture.table() != before)
        try await ScratchDisk.setImmutable(directory, true)
        let undone: SluiceProcess.Outcome
        do {
            undone = try await fixture.sluice.run(["undo", directory.path, "--yes"])
        } catch {
            try? await ScratchDisk.setImmutable(directory, false)
            throw error
        }
        try await ScratchDisk.setImmutable(directory, false)
        #expect(undone.status == 1, "\(undone.stderr)")
        #expect(
            undone.stderr.contains(
                "error: the undo committed (the table holds the prior values again), but \(directory.path)/manifest.json "
                    + "could not record it"), "\(undone.stderr)")
        #expect(try await fixture.table() == before)
        #expect(await fixture.manifests().last?.manifest.undos.isEmpty == true)
    }

    // MARK: Two runs at once

    @Test func twoRunsOfThePlanAtOnceKeepTheirOwnRunsAndTheSecondApplySaysWhoItWaitsFor() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        // The first run's apply holds the table lock while its UPDATE waits for a row.
        let (first, firstOut, firstErr) = try await fixture.startApplyHeldOnARow()
        defer { FaultChecks.stop(first.process) }
        let firstID = try #require(await fixture.manifests().first?.manifest.runID)
        let (second, secondOut, secondErr) = try fixture.sluice.start(fixture.runArguments(["--yes"]))
        defer { FaultChecks.stop(second) }
        try await FaultChecks.eventually("the second apply to wait for the table lock", within: .seconds(60)) {
            try await fixture.sluiceBackends().contains {
                $0.query.hasPrefix("LOCK TABLE") && $0.waitEventType == "Lock"
            }
        }
        // It says so while it waits, naming the table and the run holding the lock.
        try await FaultChecks.eventually("the second run to say it waits") {
            let said = (try? await Files.text(secondErr)) ?? ""
            return said.contains("waiting for a lock on tracks") && said.contains(firstID)
        }
        #expect(second.isRunning)

        await first.lock.release()
        let firstDone = await FaultChecks.finish(first.process, firstOut, firstErr, within: .seconds(60))
        let secondDone = await FaultChecks.finish(second, secondOut, secondErr, within: .seconds(60))
        #expect(firstDone.status == 0, "\(firstDone.stderr)")
        #expect(secondDone.status == 0, "\(secondDone.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)

        // Two run directories, each intact; the second applied after the first, changing nothing.
        let runs = await fixture.manifests()
        #expect(runs.count == 2)
        #expect(Set(runs.map(\.directory.path)).count == 2)
        for (directory, manifest) in runs {
            #expect(manifest.status == .succeeded)
            try await FaultChecks.expectArtifactsIntact(manifest, in: directory)
        }
        let firstRun = try #require(runs.first { $0.manifest.runID == firstID }?.manifest)
        let secondRun = try #require(runs.first { $0.manifest.runID != firstID }?.manifest)
        #expect(firstRun.stage("apply")?.counters["changed", default: 0] ?? 0 > 0)
        #expect(secondRun.stage("apply")?.counters["changed"] == 0)
        #expect(
            secondRun.notices.contains { $0.contains("lock on tracks") && $0.contains(firstID) }, "\(secondRun.notices)"
        )
        #expect(secondDone.stdout.contains(firstID), "the summary repeats who it waited for")
        try await FaultChecks.expectNoSecrets(fixture, outputs: [firstDone, secondDone])
    }
}

// MARK: - What the process fault tests need

extension FaultChecks {
    /// Runs `sluice ARGS` (a resume or replay after a fault): it succeeds, the table ends fully
    /// enriched, every file its manifest lists is intact, and no secret is in any file or in
    /// what this and the `earlier` commands printed.
    /// - Returns: the manifest of the converging run.
    @discardableResult
    static func expectConverges(
        _ fixture: EnrichmentFixture, before: [String: [String?]], running arguments: [String],
        after earlier: [SluiceProcess.Outcome], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Manifest {
        try await expectConverged(
            fixture, before: before, outcome: fixture.sluice.run(arguments), after: earlier,
            sourceLocation: sourceLocation)
    }

    /// The same for a command that has ended with `outcome`.
    @discardableResult
    static func expectConverged(
        _ fixture: EnrichmentFixture, before: [String: [String?]], outcome: SluiceProcess.Outcome,
        after earlier: [SluiceProcess.Outcome], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Manifest {
        #expect(outcome.status == 0, "\(outcome.stdout)\n\(outcome.stderr)", sourceLocation: sourceLocation)
        try await expectEnriched(fixture, before: before, sourceLocation: sourceLocation)
        let (directory, manifest) = try #require(await fixture.manifests().last, sourceLocation: sourceLocation)
        #expect(manifest.status == .succeeded, sourceLocation: sourceLocation)
        try await expectArtifactsIntact(manifest, in: directory, sourceLocation: sourceLocation)
        try await expectNoSecrets(fixture, outputs: earlier + [outcome], sourceLocation: sourceLocation)
        return manifest
    }

    /// Every file the manifest lists for its succeeded stages (spools, CSV, rejects, undo,
    /// answers) exists with its recorded sha256.
    static func expectArtifactsIntact(
        _ manifest: Manifest, in directory: URL, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        for stage in manifest.stages where stage.status == .succeeded {
            for artifact in stage.outputs {
                let url =
                    artifact.path.hasPrefix("/")
                    ? URL(fileURLWithPath: artifact.path) : directory.appendingPathComponent(artifact.path)
                let actual = try await PrivateFile.sha256(of: url).sha256
                #expect(actual == artifact.sha256, "\(url.path) changed", sourceLocation: sourceLocation)
            }
        }
    }
}

/// A started `sluice run --yes` whose apply holds the table lock, its UPDATE waiting for a row
/// the test locked; `lock.release()` lets it go on.
struct HeldApply {
    let process: Process
    let lock: HeldLock
}

extension EnrichmentFixture {
    /// Starts `sluice run --yes` with one row the update will change locked by the test, and
    /// returns once apply's UPDATE waits for it (apply then holds its table lock).
    /// Starts `arguments` (default: the plan with `--yes`) and returns once its apply waits for a row.
    func startApplyHeldOnARow(_ arguments: [String]? = nil) async throws -> (HeldApply, URL, URL) {
        let lock = try await holdRowLock(on: aTrackThatWillChange())
        let (process, out, err) = try sluice.start(arguments ?? runArguments(["--yes"]))
        do {
            try await FaultChecks.eventually("the UPDATE to wait for the row", within: .seconds(60)) {
                try await sluiceBackends().contains { $0.query.hasPrefix("UPDATE") && $0.waitEventType == "Lock" }
            }
        } catch {
            FaultChecks.stop(process)
            await lock.release()
            throw error
        }
        return (HeldApply(process: process, lock: lock), out, err)
    }

    /// ``startApplyHeldOnARow(_:)``, then Ctrl-C; the row let go once sluice has exited.
    func interruptApplyHeldOnARow(_ arguments: [String]) async throws -> SluiceProcess.Outcome {
        let (held, out, err) = try await startApplyHeldOnARow(arguments)
        defer { FaultChecks.stop(held.process) }
        kill(held.process.processIdentifier, SIGINT)
        let interrupted = await FaultChecks.finish(held.process, out, err, within: .seconds(60))
        await held.lock.release()
        return interrupted
    }

    /// Rewrites the manifest of `run` (the latest, which finished) as a kill during its verify
    /// leaves it: the run and its verify `running`, its process one that has exited.
    func leaveAsKilledDuringVerify(_ run: URL) async throws {
        let exited = Int(try await ChildProcess.run("/bin/true", []).pid)
        var manifest = try #require(await manifests().last?.manifest)
        manifest.status = .running
        manifest.finishedAt = nil
        manifest.process = .init(pid: exited, host: ProcessInfo.processInfo.hostName)
        let verify = try #require(manifest.stages.firstIndex { $0.name == "verify" })
        manifest.stages[verify].status = .running
        try await Files.write(manifest.encoded(), to: Manifest.manifestURL(for: run))
    }

    /// Waits until a session of sluice whose query `matches` waits for a lock (`gate`, which the
    /// test holds); when none does within two minutes, releases `gate` and fails, naming `what`.
    func waitForASession(
        _ what: String, toWaitFor gate: HeldLock, matching matches: @escaping @Sendable (String) -> Bool
    ) async throws {
        do {
            try await FaultChecks.eventually("\(what) to wait for the test's lock", within: .seconds(120)) {
                try await sluiceBackends().contains { matches($0.query) && $0.waitEventType == "Lock" }
            }
        } catch {
            await gate.release()
            throw error
        }
    }

    /// Takes the advisory lock `key` in a transaction of the test's own: a query that takes it
    /// too (`pg_advisory_lock_shared`) waits until it is released.
    func holdAdvisoryLock(_ key: Int) async throws -> HeldLock {
        let connection = try await server.connect(conninfo)
        _ = try await connection.execute("BEGIN")
        _ = try await connection.execute("SELECT pg_advisory_xact_lock(\(key))")
        return HeldLock(connection: connection)
    }

    /// Waits until fetch has had `count` answers from the simulator.
    func waitForAPIRequests(_ count: Int) async throws {
        try await FaultChecks.eventually("\(count) API requests", within: .seconds(60)) {
            simulator.stats().apiRequests >= count
        }
    }
}

/// A small tmpfs mounted for one test: a disk that fills up or is read-only. Needs the right to
/// mount (root here); tests using it are skipped otherwise.
struct ScratchDisk {
    enum Trouble: String, CustomTestStringConvertible, Sendable {
        case full, readOnly
        var testDescription: String { rawValue }
    }

    static let fillerName = "filler"
    let path: String

    /// Mounts a tmpfs of `bytes` on `url` (created when missing).
    init(at url: URL, bytes: Int, readOnly: Bool = false) throws {
        path = url.path
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let flags: UInt = readOnly ? UInt(MS_RDONLY) : 0
        guard mount("tmpfs", path, "tmpfs", flags, "size=\(bytes),mode=0700") == 0 else {
            throw ScratchDiskError(message: "mount tmpfs on \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether this process may mount a tmpfs (tried once on a scratch directory).
    static let canMount: Bool = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sluice-mount-probe-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        guard let disk = try? ScratchDisk(at: url, bytes: 4096) else { return false }
        disk.unmount()
        return true
    }()

    /// Whether `chattr +i` works on the temporary directory (it needs CAP_LINUX_IMMUTABLE).
    static let canMakeImmutable: Bool = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sluice-chattr-probe-\(UUID().uuidString)")
        guard (try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)) != nil else {
            return false
        }
        defer { try? FileManager.default.removeItem(at: url) }
        // Evaluated once, by `.enabled(if:)` before the first test that needs it: the only
        // place these tests wait for a child process on the calling thread (two `chattr` runs).
        guard chattr(url, "+i") else { return false }
        let refused = !FileManager.default.createFile(atPath: url.appendingPathComponent("x").path, contents: nil)
        _ = chattr(url, "-i")
        return refused
    }()

    private static func chattr(_ url: URL, _ flag: String) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/chattr")
        process.arguments = [flag, url.path]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// Fills the disk to the last byte with a file of zeros (on a thread of its own: up to
    /// 16 MiB of writes).
    func fill() async throws {
        let file = "\(path)/\(Self.fillerName)"
        try await BlockingIO.runOnOwnThread {
            let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw ScratchDiskError(message: "create filler: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            let chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let written = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if written > 0 { continue }
                if written < 0 && errno == EINTR { continue }
                break
            }
            // The last partial page: single bytes until not even one fits.
            while write(fd, chunk, 1) == 1 {}
        }
    }

    /// Removes the filler: the disk has room again.
    func unfill() async throws {
        let file = "\(path)/\(Self.fillerName)"
        try await BlockingIO.runOnOwnThread { try FileManager.default.removeItem(atPath: file) }
    }

    /// The names in the disk's root.
    func files() async throws -> [String] {
        let path = path
        return try await BlockingIO.runOnOwnThread {
            try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        }
    }

    /// Detaches the mount even if a file on it is still open; what it held is gone.
    func unmount() {
        if umount2(path, Int32(MNT_DETACH)) != 0 {
            Issue.record("cannot unmount \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// `chattr +i` / `chattr -i`: an immutable directory refuses new, renamed and removed entries, even to root.
    static func setImmutable(_ url: URL, _ immutable: Bool) async throws {
        let outcome = try await ChildProcess.run("/usr/bin/chattr", [immutable ? "+i" : "-i", url.path], quiet: true)
        guard outcome.status == 0 else {
            throw ScratchDiskError(message: "chattr \(immutable ? "+i" : "-i") \(url.path) failed")
        }
    }
}

struct ScratchDiskError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
