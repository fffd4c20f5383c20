import Foundation
import SluiceCore
import SluicePipeline
import Testing

/// `sluice reject`: a review turned down is recorded, listed, and never applied by accident.
@Suite struct RejectCommandTests {
    /// A rejected review: the run is listed as rejected with who and why; its approval, its
    /// resume and a second rejection change nothing; a dry run and `--force` go on, saying so.
    @Test func aRejectedReviewIsRecordedAndItsApprovalRefused() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 40)
        defer { Task { await fixture.tearDown() } }
        var sluice = fixture.databaseOnly
        sluice.environment["USER"] = "steward"
        let stopped = try await fixture.run()
        #expect(stopped.status == 3, "\(stopped.stderr)")
        let gated = try await fixture.lastRunDirectory()
        #expect(stopped.stdout.contains("sluice reject \(gated.path) --reason '...'"), "\(stopped.stdout)")
        let before = try await fixture.table()

        let rejected = try await sluice.run(["reject", gated.path, "--reason", "  popularity looks stale \n"])
        #expect(rejected.status == 0, "\(rejected.stderr)")
        #expect(rejected.stdout.contains("stage 'apply' will not run"), "\(rejected.stdout)")
        #expect(
            rejected.stdout.contains(
                "sluice run \(SluiceProcess.recorded("plans/spotify-enrichment.yaml")) --set fetch.delay=0.01s "
                    + "--runs-dir \(fixture.runsDirectory)"),
            "\(rejected.stdout)")
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.status == .rejected)
        #expect(manifest.stage("apply")?.status == .cancelled)
        let rejection = try #require(manifest.rejection)
        #expect(rejection.stage == "apply" && rejection.user == "steward")
        #expect(rejection.uid == Int(geteuid()) && manifest.process?.uid == Int(geteuid()))
        #expect(rejection.reason == "popularity looks stale")

        let listed = try await sluice.run(["runs", "--runs-dir", fixture.runsDirectory, "--json"])
        #expect(listed.stdout.contains("\"state\": \"rejected\""), "\(listed.stdout)")
        #expect(listed.stdout.contains("\"exit_code\": 1"), "\(listed.stdout)")
        let shown = try await sluice.run(["runs", "show", gated.path])
        #expect(
            shown.stdout.contains("stage 'apply' rejected by steward at ")
                && shown.stdout.contains(": popularity looks stale; approving it is refused"), "\(shown.stdout)")
        #expect(!shown.stdout.contains("--from apply --yes"), "the gate's command is not offered: \(shown.stdout)")

        let review = try await sluice.run(["review", gated.path])
        #expect(review.stdout.contains("  stage 'apply' rejected by steward at "), "\(review.stdout)")
        let again = try await sluice.run(["reject", gated.path])
        #expect(again.status == 0 && again.stderr.contains("was rejected already"), "\(again.stderr)")
        let approval = try await sluice.run(["replay", gated.path, "--from", "apply", "--yes"])
        #expect(approval.status == 1, "\(approval.stderr)")
        #expect(approval.stderr.contains("approving it is refused"), "\(approval.stderr)")
        let resumed = try await sluice.run(["resume", gated.path])
        #expect(resumed.status == 1 && resumed.stderr.contains("nothing to resume"), "\(resumed.stderr)")
        let dry = try await sluice.run(["replay", gated.path, "--from", "apply", "--yes", "--dry-run"])
        #expect(dry.status == 0 && dry.stderr.contains("warning: a dry run of run"), "\(dry.stderr)")
        #expect(try await fixture.table() == before)

        let forced = try await sluice.run(["replay", gated.path, "--from", "apply", "--yes", "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stderr.contains("warning: --force: approving run"), "\(forced.stderr)")
        #expect(try await fixture.table() != before)
    }

    /// Only a run waiting at its gate is rejected: one approved already (its apply committed)
    /// is not, and the undo of its approval is named; an approval that failed before its commit
    /// leaves the review open to rejection, and resuming that approval is then refused too.
    @Test func anApprovedRunIsNotRejectedAndAFailedApprovalIsNotResumedOnceRejected() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 40)
        defer { Task { await fixture.tearDown() } }
        let sluice = fixture.databaseOnly
        #expect(try await fixture.run().status == 3)
        let first = try await fixture.lastRunDirectory()
        #expect(try await sluice.run(["replay", first.path, "--from", "apply", "--yes"]).status == 0)
        let approval = try await fixture.lastRunDirectory()
        let late = try await sluice.run(["reject", first.path])
        #expect(late.status == 1, "\(late.stderr)")
        #expect(late.stderr.contains("approved run"), "\(late.stderr)")
        #expect(late.stderr.contains("sluice undo \(approval.path) --dry-run"), "\(late.stderr)")
        let done = try await sluice.run(["reject", approval.path])
        #expect(done.status == 1 && done.stderr.contains("is not waiting for approval (succeeded)"), "\(done.stderr)")

        // A second review, then a cell it would write changed behind it: its approval fails on
        // the drift, before any commit.
        #expect(try await sluice.run(["undo", approval.path, "--yes"]).status == 0)
        #expect(try await fixture.run().status == 3)
        let second = try await fixture.lastRunDirectory()
        _ = try await fixture.server.execute(
            "UPDATE tracks SET spotify_popularity = (coalesce(spotify_popularity, 0) + 7) % 101",
            conninfo: fixture.conninfo)
        let drifted = try await sluice.run(["replay", second.path, "--from", "apply", "--yes"])
        #expect(drifted.status == 1, "\(drifted.stderr)")
        let failed = try await fixture.lastRunDirectory()
        let rejected = try await sluice.run(["reject", second.path, "--reason", "drifted"])
        #expect(rejected.status == 0, "\(rejected.stderr)")
        let table = try await fixture.table()
        let resumed = try await sluice.run(["resume", failed.path])
        #expect(resumed.status == 1, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("approving it is refused"), "\(resumed.stderr)")
        #expect(try await fixture.table() == table)
    }

    /// A review older than an apply to the same table since waits for nothing approving it would
    /// do: `sluice runs` lists it as superseded, naming that apply's run. The review that apply
    /// approved is listed as approved, naming it.
    @Test func aReviewOlderThanAnApplySinceIsListedAsSuperseded() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 40)
        defer { Task { await fixture.tearDown() } }
        let sluice = fixture.databaseOnly
        #expect(try await fixture.run().status == 3)
        let older = try #require(await fixture.manifests().last?.manifest.runID)
        #expect(try await fixture.run().status == 3)
        let newer = try #require(await fixture.manifests().last?.manifest.runID)
        let listedBefore = try await sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(!listedBefore.stdout.contains("superseded"), "\(listedBefore.stdout)")
        let approved = try await sluice.run([
            "replay", newer, "--runs-dir", fixture.runsDirectory, "--from", "apply", "--yes",
        ])
        #expect(approved.status == 0, "\(approved.stderr)")
        let approval = try #require(await fixture.manifests().last?.manifest.runID)

        let listed = try await sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        let lines = listed.stdout.split(separator: "\n")
        let olderLine = try #require(lines.first { $0.hasPrefix(older) })
        #expect(olderLine.contains("awaiting-approval, superseded"), "\(listed.stdout)")
        #expect(olderLine.hasSuffix("review superseded by \(approval)"), "\(listed.stdout)")
        // The approved one is listed so, with the approval that committed, even after an attempt
        // since that failed (past a guard-rail given with --set).
        let failed = try await sluice.run([
            "replay", newer, "--runs-dir", fixture.runsDirectory, "--from", "apply", "--yes", "--set",
            "apply.max_changed=1",
        ])
        #expect(failed.status == 1, "\(failed.stderr)")
        // Located at the --set typed (the first), not numbered after the run's recorded one.
        #expect(failed.stdout.contains("--set:1:19: error: "), "\(failed.stdout)")
        #expect(await fixture.manifests().last?.manifest.replayOf?.runID == newer)
        let relisted = try await sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        let newerLine = try #require(relisted.stdout.split(separator: "\n").first { $0.hasPrefix(newer) })
        #expect(!newerLine.contains("superseded"), "\(relisted.stdout)")
        #expect(newerLine.contains("awaiting-approval, approved"), "\(relisted.stdout)")
        #expect(newerLine.hasSuffix("continued by \(approval)"), "\(relisted.stdout)")
        let json = try await sluice.run(["runs", "--runs-dir", fixture.runsDirectory, "--json"])
        #expect(json.stdout.contains("\"superseded_by\": \"\(approval)\""), "\(json.stdout)")
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        let newerRun = try #require(runs.first { $0["run_id"] as? String == newer })
        #expect(newerRun["state"] as? String == "awaiting-approval, approved")
        #expect(newerRun["continued_by"] as? String == approval)

        // `runs show` says the same of each, as text and as JSON; the superseded review is not
        // offered the approval that would be refused, but a new review.
        for (run, state) in [(older, "awaiting-approval, superseded"), (newer, "awaiting-approval, approved")] {
            let shownJSON = try await sluice.run(["runs", "show", run, "--runs-dir", fixture.runsDirectory, "--json"])
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(shownJSON.stdout.utf8)) as? [String: Any])
            #expect(object["state"] as? String == state, "\(shownJSON.stdout)")
            let shown = try await sluice.run(["runs", "show", run, "--runs-dir", fixture.runsDirectory])
            #expect(shown.stdout.hasPrefix("run \(run) \(state)"), "\(shown.stdout)")
        }
        let shownOlder = try await sluice.run(["runs", "show", older, "--runs-dir", fixture.runsDirectory])
        #expect(
            shownOlder.stdout.contains(
                "its review was superseded by run \(approval), an apply to the same table since; approving it is "
                    + "refused (--force overrides). For a new review:\n  sluice run "), "\(shownOlder.stdout)")
        #expect(!shownOlder.stdout.contains("--from apply --yes"), "\(shownOlder.stdout)")

        // Approved again, which finds the table holding it already: that changes nothing, and
        // once the approval that wrote is undone, the gate waits again all the same.
        let again = try await sluice.run([
            "replay", newer, "--runs-dir", fixture.runsDirectory, "--from", "apply", "--yes",
        ])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(await fixture.manifests().last?.manifest.stage("apply")?.counters["changed"] == 0)

        // The approval undone, its gate waits again: no longer listed as approved.
        let undone = try await sluice.run(["undo", approval, "--runs-dir", fixture.runsDirectory, "--yes"])
        #expect(undone.status == 0, "\(undone.stderr)")
        let afterUndo = try await sluice.run(["runs", "--runs-dir", fixture.runsDirectory, "--json"])
        let listedAfter = try #require(
            try JSONSerialization.jsonObject(with: Data(afterUndo.stdout.utf8)) as? [[String: Any]])
        let waiting = try #require(listedAfter.first { $0["run_id"] as? String == newer })
        #expect(waiting["state"] as? String == "awaiting-approval", "\(afterUndo.stdout)")
        #expect(waiting["continued_by"] as? String == approval, "\(afterUndo.stdout)")
        #expect(waiting["continuation_undone"] as? Bool == true, "\(afterUndo.stdout)")
        let relistedAfter = try await sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        let waitingLine = try #require(relistedAfter.stdout.split(separator: "\n").first { $0.hasPrefix(newer) })
        #expect(waitingLine.hasSuffix("continued by \(approval) (undone since)"), "\(relistedAfter.stdout)")
        // `runs show` says so and gives the approval again, as for a gate never approved.
        let shownAfter = try await sluice.run(["runs", "show", newer, "--runs-dir", fixture.runsDirectory])
        #expect(
            shownAfter.stdout.contains("continued by run \(approval), whose changes were undone since"),
            "\(shownAfter.stdout)")
        #expect(shownAfter.stdout.contains("--from apply --yes"), "\(shownAfter.stdout)")
    }

    /// A review of `sluice apply FILE.csv` turned down: the new review it points at is that
    /// file applied again, not the plan run anew.
    @Test func aRejectedApplyOfACSVPointsAtApplyingTheFileAgain() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 40)
        defer { Task { await fixture.tearDown() } }
        let file = try await fixture.reviewedCSV()
        var sluice = fixture.databaseOnly
        sluice.environment["USER"] = nil
        sluice.environment["LOGNAME"] = nil
        let stopped = try await sluice.run([
            "apply", ApplyCommandTests.plan, file.path, "--runs-dir", fixture.runsDirectory,
        ])
        #expect(stopped.status == 3, "\(stopped.stderr)")
        let gated = try await fixture.lastRunDirectory()
        let rejected = try await sluice.run(["reject", gated.path])
        #expect(rejected.status == 0, "\(rejected.stderr)")
        #expect(
            rejected.stdout.contains(
                "sluice apply \(SluiceProcess.recorded(ApplyCommandTests.plan)) \(file.path) --runs-dir "
                    + "\(fixture.runsDirectory)"),
            "\(rejected.stdout)")
        let shown = try await sluice.run(["runs", "show", gated.path])
        // No login name in the environment (systemd, `docker exec`): the uid says who.
        #expect(shown.stdout.contains("stage 'apply' rejected by uid \(geteuid()) at "), "\(shown.stdout)")
        #expect(shown.stdout.contains("(no reason given)"), "\(shown.stdout)")
    }

    /// An approval that fails (a guard-rail) is not told the API's answers are kept for a resume:
    /// the fetch is the stopped run's, and continuing the approval asks the API nothing.
    @Test func aFailedApprovalIsNotOfferedTheFetchsAnswers() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 40)
        defer { Task { await fixture.tearDown() } }
        #expect(try await fixture.run().status == 3)
        let gated = try await fixture.lastRunDirectory()
        let failed = try await fixture.databaseOnly.run([
            "replay", gated.path, "--from", "apply", "--yes", "--set", "apply.max_changed=1",
        ])
        #expect(failed.status == 1, "\(failed.stderr)")
        #expect(failed.stdout.contains("max_changed"), "\(failed.stdout)")
        #expect(!failed.stdout.contains("answers to"), "\(failed.stdout)")
    }
}
