import Foundation
import SluiceApply
import SluiceCore
import SluicePipeline
import SluiceTestSupport
import Testing

/// `sluice apply plans/spotify-enrichment.yaml FILE.csv`, run by the real binary against the
/// throwaway PostgreSQL, on the audit trail a real run wrote (issue 7): an edited CSV applies and
/// verifies, a dry run changes nothing, and a bad CSV gets located one-line errors, exit code 1
/// and a table exactly as before (every row compared). Only the database's environment is given.
@Suite(.serialized)
struct ApplyCommandTests {
    static let plan = "plans/spotify-enrichment.yaml"

    /// `sluice apply PLAN FILE` without `--yes`, by `sluice`: stopped at its gate (exit 3). What
    /// it printed, and its run directory.
    static func stopAtTheGate(
        _ file: URL, on fixture: EnrichmentFixture, by sluice: SluiceProcess
    ) async throws -> (SluiceProcess.Outcome, URL) {
        let stopped = try await sluice.run(["apply", plan, file.path, "--runs-dir", fixture.runsDirectory])
        #expect(stopped.status == 3, "\(stopped.stderr)\n\(stopped.stdout)")
        return (stopped, try await fixture.lastRunDirectory())
    }

    @Test func anEditedAuditTrailAppliesAndVerifiesAndItsDryRunChangesNothing() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        var rows = try await fixture.reviewedRows()
        try #require(rows.count > 10)

        // What a reviewer does: another popularity, an ISRC removed, a popularity left empty
        // ("could not say": keep the table's), a key in capitals, a row repeated exactly; then
        // the editor saves it with a byte-order mark and LF line ends.
        rows[1][2] = String(((Int(rows[1][2]) ?? 0) + 7) % 101)
        rows[2][3] = ""
        rows[3][2] = ""
        rows[4][0] = rows[4][0].uppercased()
        rows.append(rows[5])
        let edited = fixture.directory.appendingPathComponent("reviewed.csv")
        try await Files.write([0xEF, 0xBB, 0xBF] + Array(CSVText.lines(rows, end: "\n").utf8), to: edited)

        let sluice = fixture.databaseOnly
        let dry = try await sluice.run([
            "apply", Self.plan, edited.path, "--runs-dir", fixture.runsDirectory, "--dry-run",
        ])
        #expect(dry.status == 0, "\(dry.stderr)\n\(dry.stdout)")
        #expect(try await fixture.table() == before, "a dry run changed the table")
        let dryManifest = try #require(await fixture.manifests().last?.manifest)
        #expect((dryManifest.stage("apply")?.counters["changed"] ?? 0) > 0)
        #expect(dryManifest.notices.contains { $0.contains("dry run") })
        #expect(dryManifest.stage("apply")?.counters["dry_run"] == 1)
        #expect(dry.stdout.contains("succeeded (dry run)"), "a dry run is told apart: \(dry.stdout)")
        // Its review is what a dry run is for: in the summary on stdout, not only on stderr.
        #expect(dry.stdout.contains("  review of tracks (update): "), "\(dry.stdout)")
        #expect(!dry.stdout.contains("(shown above)"), "\(dry.stdout)")

        let applied = try await sluice.run([
            "apply", Self.plan, edited.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(applied.status == 0, "\(applied.stderr)\n\(applied.stdout)")
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.status == .succeeded)
        #expect(manifest.stages.map(\.name) == ["csv-input", "apply", "verify"])
        #expect(manifest.stages.allSatisfy { $0.status == .succeeded })
        let input = try #require(manifest.stage("csv-input")?.inputs.first { $0.kind == "csv" })
        #expect(input.sha256 == SHA256.hex(try await Files.bytes(edited)))
        #expect(input.rows == rows.count - 1)
        // The repeated row: csv-input counts it, so the apply's server-side check runs and folds it.
        #expect(manifest.stage("csv-input")?.counters["repeated_keys"] == 1)
        #expect(manifest.stage("apply")?.counters["duplicate_rows"] == 1)
        #expect(manifest.stage("apply")?.counters["dry_run"] == nil)
        // Approved up front, the apply streamed beside csv-input and reviewed once the file was in:
        // its input and its review are pinned to what csv-input recorded.
        let spool = try #require(manifest.stage("csv-input")?.spool)
        #expect(manifest.stage("apply")?.inputs == [spool])
        #expect(manifest.stage("apply")?.review?.inputSHA256 == spool.sha256)
        #expect(!applied.stdout.contains("(dry run)"))

        // Every row: the CSV's values where it has a row (an empty popularity keeps the table's,
        // an empty ISRC clears it), everything else exactly as before.
        var expected = before
        for row in rows.dropFirst() {
            let key = row[0].lowercased()
            var values = try #require(before[key], "\(key) is not in the table")
            if !row[2].isEmpty { values[0] = row[2] }
            values[1] = row[3].isEmpty ? nil : row[3]
            expected[key] = values
        }
        let after = try await fixture.table()
        #expect(after == expected)
        #expect(after[rows[3][0]]?[0] == before[rows[3][0]]?[0])
        #expect(after[rows[2][0]]?[1] == nil)

        // A run that succeeded has nothing to resume: `resume` says so and runs nothing (the
        // plan would query, fetch and apply again).
        let asked = fixture.simulator.stats().apiRequests
        let runs = await fixture.manifests().count
        let resumed = try await sluice.run(["resume", try await fixture.lastRunDirectory().path, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("succeeded: there is nothing to resume"), "\(resumed.stderr)")
        #expect(fixture.simulator.stats().apiRequests == asked)
        #expect(await fixture.manifests().count == runs, "resume started a run")
        #expect(try await fixture.table() == after)
        try await FaultChecks.expectNoSecrets(fixture, outputs: [dry, applied, resumed])
    }

    /// Without --yes, `sluice apply` reviews and stops; the command it prints replays its apply
    /// held to that review: a row someone changed since is not overwritten (on_drift: fail
    /// refuses the whole apply, skip applies the rest).
    @Test func stoppedAtTheGateItsReplayAppliesExactlyTheReview() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let (file, rows) = try await fixture.reviewedCSVWithRows()
        let sluice = fixture.databaseOnly
        let (stopped, directory) = try await Self.stopAtTheGate(file, on: fixture, by: sluice)
        #expect((stopped.stdout + stopped.stderr).contains("--from apply --yes"), "\(stopped.stdout)")
        #expect(await Files.exists(directory.appendingPathComponent("review.csv")))
        // What continues it is approval, which `resume` cannot give: it prints the command and
        // exits as the stop did.
        let runs = await fixture.manifests().count
        let resumed = try await sluice.run(["resume", directory.path])
        #expect(resumed.status == 3, "\(resumed.stderr)")
        #expect(
            resumed.stderr.contains("waits for approval; to go on: sluice replay "),
            "\(resumed.stderr)")
        #expect(resumed.stderr.contains("--from apply --yes"), "\(resumed.stderr)")
        // The command is recorded with the run's absolute path: it works from any directory.
        #expect(resumed.stderr.contains("sluice replay \(directory.path) --from apply --yes"), "\(resumed.stderr)")
        #expect(await fixture.manifests().count == runs, "resume started a run")
        // A stage the run cannot replay is refused naming those it can: a typo gets its nearest,
        // the file's check how to run it again.
        let typo = try await sluice.run(["replay", directory.path, "--stage", "aply", "--yes"])
        #expect(typo.status == 64, "a usage error")
        #expect(typo.stderr.contains("it can replay: apply, verify); did you mean 'apply'?"), "\(typo.stderr)")
        let source = try await sluice.run(["replay", directory.path, "--stage", "csv-input", "--yes"])
        #expect(source.status == 64)
        #expect(source.stderr.contains("to read and check it again, run: sluice apply "), "\(source.stderr)")
        #expect(source.stderr.contains(file.path), "\(source.stderr)")

        // The file edited after the review: its approval would apply the reviewed rows, not the
        // edit, so it is refused, saying how to apply the edited file.
        let asReviewed = try await Files.text(file)
        try await Files.write(Array((asReviewed + rows[1].joined(separator: ",") + "\n").utf8), to: file)
        let edited = try await sluice.run(["replay", directory.path, "--from", "apply", "--yes"])
        #expect(edited.status == 1, "\(edited.stderr)")
        #expect(edited.stderr.contains("\(file.path) was changed after run "), "\(edited.stderr)")
        #expect(edited.stderr.contains("to apply the edited file: sluice apply "), "\(edited.stderr)")
        try await Files.write(Array(asReviewed.utf8), to: file)

        // Someone sets a popularity the review will fill or update.
        let changed = try #require(rows.dropFirst().first { !$0[2].isEmpty && $0[2] != "77" })[0]
        _ = try await fixture.server.execute(
            "UPDATE tracks SET spotify_popularity = 77 WHERE id = '\(changed)'", conninfo: fixture.conninfo)
        let before = try await fixture.table()
        let refused = try await sluice.run(["replay", directory.path, "--from", "apply", "--yes"])
        #expect(refused.status == 1, "\(refused.stderr)")
        let said = refused.stdout + refused.stderr
        #expect(said.contains("changed since the review"), "\(said)")
        #expect(said.contains(changed), "\(said)")
        #expect(try await fixture.table() == before)
        // Held to the same review, a resume or a replay would fail again: the summary offers
        // the way to review the same rows against the table as it is now.
        #expect(
            refused.stdout.contains(
                "the table changed since the review: to review the same rows against the table as it is now, "
                    + "then apply them:\n  sluice apply \(SluiceProcess.recorded(Self.plan)) \(file.path)\n"),
            "\(refused.stdout)")
        #expect(!refused.stdout.contains("sluice resume"), "\(refused.stdout)")

        let skipped = try await sluice.run([
            "replay", directory.path, "--from", "apply", "--yes", "--set", "apply.on_drift=skip",
        ])
        #expect(skipped.status == 0, "\(skipped.stderr)\n\(skipped.stdout)")
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.stage("apply")?.counters["drifted"] == 1)
        #expect(manifest.stage("apply")?.review?.file.sha256 != nil)
        // Under the review it was held to, the summary says what the apply wrote of it.
        let reviewed = try #require(ReviewSummary(json: manifest.stage("apply")?.review?.summary ?? .null))
        #expect(
            skipped.stdout.contains(
                "  applied: \(reviewed.rowsWritten - 1) of the \(reviewed.rowsWritten) rows the review would write; "
                    + "1 changed since the review and were left as they are\n"), "\(skipped.stdout)")
        let after = try await fixture.table()
        #expect(after[changed]?[0] == "77")
        #expect(after != before)

        // Undoing the run that stopped at the gate undoes nothing: its apply never ran. It says
        // so, and names its approval, the run that applied.
        let approval = try await fixture.lastRunDirectory()
        let misdirected = try await sluice.run(["undo", directory.path, "--yes"])
        #expect(misdirected.status == 1)
        #expect(misdirected.stderr.contains("stage 'apply' of run \(manifest.replayOf?.runID ?? "?") did not run"))
        #expect(
            misdirected.stderr.contains(
                "note: run \(manifest.runID), a replay of this run, applied it; to undo that: sluice undo \(approval.path) --yes"
            ),
            "\(misdirected.stderr)")
        #expect(try await fixture.table() == after)

        // A replay that skipped the apply (verify alone) lists the apply with the approval's
        // record: undoing it undoes nothing, and names the run whose apply it is.
        let verified = try await sluice.run(["replay", approval.path, "--stage", "verify", "--yes"])
        #expect(verified.status == 0, "\(verified.stderr)")
        let verifyRun = try await fixture.lastRunDirectory()
        let skippedUndo = try await sluice.run(["undo", verifyRun.path, "--yes"])
        #expect(skippedUndo.status == 1, "\(skippedUndo.stderr)")
        #expect(skippedUndo.stderr.contains("did not run in run "), "\(skippedUndo.stderr)")
        #expect(skippedUndo.stderr.contains("sluice undo \(approval.path)"), "\(skippedUndo.stderr)")
        #expect(try await fixture.table() == after)

        // Once the approval is undone, the gate run's undo says so instead of offering it again.
        let undone = try await sluice.run(["undo", approval.path, "--yes"])
        #expect(undone.status == 0, "\(undone.stderr)")
        let again = try await sluice.run(["undo", directory.path, "--yes"])
        #expect(
            again.stderr.contains(
                "note: run \(manifest.runID), a replay of this run, applied it, and has been undone since"),
            "\(again.stderr)")
    }

    /// A review older than an apply to the same table since (another reviewed change) is not
    /// approved: it would write its values over that apply's. Its own approvals are no such
    /// apply (approving twice writes nothing new); `--force` goes on, saying so.
    @Test func aReviewOlderThanAnApplySinceIsNotApproved() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 40)
        defer { Task { await fixture.tearDown() } }
        var rows = try await fixture.reviewedRows()
        let gated = try await fixture.lastRunDirectory()
        let sluice = fixture.databaseOnly
        let approved = try await sluice.run(["replay", gated.path, "--from", "apply", "--yes"])
        #expect(approved.status == 0, "\(approved.stderr)")
        let twice = try await sluice.run(["replay", gated.path, "--from", "apply", "--yes"])
        #expect(twice.status == 0, "its own approval is no later apply: \(twice.stderr)")

        // Another reviewed change to the table: one popularity set otherwise.
        rows[1][2] = String(((Int(rows[1][2]) ?? 0) + 7) % 101)
        let edited = fixture.directory.appendingPathComponent("edited.csv")
        try await Files.write(Array(CSVText.lines(rows, end: "\n").utf8), to: edited)
        let applied = try await sluice.run([
            "apply", Self.plan, edited.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(applied.status == 0, "\(applied.stderr)")
        let editedRun = try #require(await fixture.manifests().last?.manifest.runID)
        let after = try await fixture.table()

        let stale = try await sluice.run(["replay", gated.path, "--from", "apply", "--yes"])
        #expect(stale.status == 1, "\(stale.stderr)")
        #expect(
            stale.stderr.contains("is older than applies to tracks that committed since: \(editedRun) (stage 'apply')"),
            "\(stale.stderr)")
        #expect(try await fixture.table() == after)
        // A dry run writes nothing over them: it runs, saying what it is (and, here, that the
        // row the edited apply changed has drifted since the review).
        let dry = try await sluice.run(["replay", gated.path, "--from", "apply", "--yes", "--dry-run"])
        #expect(dry.stderr.contains("warning: a dry run of a review older than applies to tracks"), "\(dry.stderr)")
        #expect(!dry.stderr.contains("error: the review of stage"), "\(dry.stderr)")
        #expect(dry.stdout.contains("drift"), "\(dry.stdout)")
        #expect(try await fixture.table() == after)
        let forced = try await sluice.run(["replay", gated.path, "--from", "apply", "--yes", "--force"])
        #expect(forced.stderr.contains("warning: --force: applying a review older than"), "\(forced.stderr)")
        #expect(!forced.stderr.contains("error: the review of stage"), "\(forced.stderr)")
    }

    /// A partly undone run whose cells changed since were put back by hand: the next undo finds
    /// nothing left, and records that, so the run is undone (not partly, for good).
    @Test func anUndoFindingAPartialOneCompleteRecordsItUndone() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 40)
        defer { Task { await fixture.tearDown() } }
        let (before, run) = try await fixture.applyReviewedCSV()
        let sluice = fixture.databaseOnly
        let after = try await fixture.table()
        let id = try #require(before.keys.sorted().first { before[$0]?[1] != after[$0]?[1] })
        func setISRC(_ value: String?) async throws {
            _ = try await fixture.server.execute(
                "UPDATE tracks SET isrc = $2 WHERE id = $1", [.string(id), value.map(Value.string) ?? .null],
                conninfo: fixture.conninfo)
        }
        try await setISRC("BYHAND")
        #expect(try await sluice.run(["undo", run.path, "--yes"]).status == 6)
        let partly = try await sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(partly.stdout.contains("succeeded, partly undone"), "\(partly.stdout)")

        try await setISRC(before[id]?[1] ?? nil)
        let again = try await sluice.run(["undo", run.path, "--yes"])
        #expect(again.status == 0, "\(again.stdout)\n\(again.stderr)")
        #expect(try await fixture.table() == before)
        let undone = try await sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(undone.stdout.contains("succeeded, undone"), "\(undone.stdout)")
        #expect(!undone.stdout.contains("partly"), "\(undone.stdout)")
    }

    /// An undo that restores nothing — every row put back by hand but one changed since, or every
    /// row changed since — leaves those (exit 6) and records the run partly undone, once (it
    /// recorded nothing, and the run read as not undone at all: `sluice runs` said succeeded, and
    /// an undo of an earlier run to the table needed --force).
    @Test(arguments: [true, false])
    func anUndoThatRestoresNothingRecordsTheRunPartlyUndoneOnce(othersPutBackByHand: Bool) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: othersPutBackByHand ? 40 : 30)
        defer { Task { await fixture.tearDown() } }
        let (before, run) = try await fixture.applyReviewedCSV()
        let after = try await fixture.table()
        let changed = before.keys.sorted().filter { before[$0] != after[$0] }
        try #require(changed.count > (othersPutBackByHand ? 1 : 0))
        let byHand = othersPutBackByHand ? [changed[0]] : changed
        if othersPutBackByHand {
            for id in changed.dropFirst() {
                _ = try await fixture.server.execute(
                    "UPDATE tracks SET spotify_popularity = $2::int, isrc = $3 WHERE id = $1::uuid",
                    [
                        .string(id), before[id]?[0].map(Value.string) ?? .null,
                        before[id]?[1].map(Value.string) ?? .null,
                    ],
                    conninfo: fixture.conninfo)
            }
        }
        _ = try await fixture.server.execute(
            "UPDATE tracks SET isrc = 'BYHAND', spotify_popularity = 1 WHERE id = ANY($1::uuid[])",
            [.string("{" + byHand.joined(separator: ",") + "}")], conninfo: fixture.conninfo)
        let sluice = fixture.databaseOnly
        for _ in 0..<2 {
            let undone = try await sluice.run(["undo", run.path, "--yes"])
            #expect(undone.status == 6, "\(undone.stderr)\n\(undone.stdout)")
            #expect(undone.stdout.contains("restored 0 of \(changed.count) rows"), "\(undone.stdout)")
        }
        let listed = try await sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(listed.stdout.contains("succeeded, partly undone"), "\(listed.stdout)")
        #expect(try await fixture.manifests().last?.manifest.undos.count == 1)
    }

    /// Every row put back by hand: the undo finds nothing to restore, and records the run as
    /// undone, since none of its changes is in the table.
    @Test func anUndoFindingEveryRowPutBackByHandRecordsItUndone() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 30)
        defer { Task { await fixture.tearDown() } }
        let (before, run) = try await fixture.applyReviewedCSV()
        let sluice = fixture.databaseOnly
        for (id, values) in before {
            _ = try await fixture.server.execute(
                "UPDATE tracks SET spotify_popularity = $2::int, isrc = $3 WHERE id = $1",
                [.string(id), values[0].map(Value.string) ?? .null, values[1].map(Value.string) ?? .null],
                conninfo: fixture.conninfo)
        }
        let undone = try await sluice.run(["undo", run.path, "--yes"])
        #expect(undone.status == 0, "\(undone.stderr)")
        #expect(undone.stdout.contains("restored 0 of"), "\(undone.stdout)")
        let listed = try await sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(listed.stdout.contains("succeeded, undone"), "\(listed.stdout)")
    }

    /// A verify check whose SQL the server refuses (a misspelt column) is found before anything
    /// runs, located in the plan, even when the apply is approved up front and starts with the
    /// rest: nothing is asked of the API, nothing changes. A query of several statements is left
    /// to the run.
    @Test func aVerifyQueryTheServerRefusesStopsTheRunBeforeAnythingRuns() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 40)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let text = try await Files.text(SluiceProcess.root.appendingPathComponent(Self.plan))
        let good = "COUNT(isrc) AS isrc"
        #expect(text.components(separatedBy: good).count == 2)
        let plan = fixture.directory.appendingPathComponent("typo.yaml")
        try await Files.write(
            Array(
                text.replacingOccurrences(of: good, with: good.replacingOccurrences(of: "isrc)", with: "isrcc)"))
                    .utf8),
            to: plan)
        let line =
            try #require(text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(good) })
            + 1
        let column = try #require(
            text.split(separator: "\n", omittingEmptySubsequences: false)[line - 1].range(of: "isrc)"))
        let run = try await fixture.sluice.run([
            "run", plan.path, "--runs-dir", fixture.runsDirectory, "--yes", "--set", "fetch.delay=0.01s",
        ])
        #expect(run.status == 1, "\(run.stderr)\n\(run.stdout)")
        let lineText = text.split(separator: "\n", omittingEmptySubsequences: false)[line - 1]
        let col = lineText.distance(from: lineText.startIndex, to: column.lowerBound) + 1
        #expect(
            run.stdout.contains(
                "\(plan.path):\(line):\(col): error: stages.verify.checks[0].sql (check 'what the apply wrote is in the table'): ERROR 42703"
            ),
            "\(run.stdout)")
        #expect(run.stdout.contains("(checked before the run started: nothing ran)"), "\(run.stdout)")
        #expect(fixture.simulator.stats().apiRequests == 0)
        #expect(try await fixture.table() == before)
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.stage("query")?.status != .succeeded)

        // Several statements, which PREPARE does not take: the run judges them, as before.
        let several = try await fixture.sluice.run([
            "run", Self.plan, "--runs-dir", fixture.runsDirectory, "--yes", "--set", "fetch.delay=0.01s",
            "--set", "verify.checks=[{name: two, sql: 'SELECT 1; SELECT COUNT(*) FROM tracks', expect: '>= 1'}]",
        ])
        #expect(!several.stdout.contains("checked before the run started"), "\(several.stdout)")
    }

    /// A verify that fails after the apply committed: the database changed, which the exit code
    /// (5, not 1's "nothing changed") and the summary say, with the undo that puts it back; that
    /// undo, given the bare run id and the runs directory, restores the table.
    @Test func aVerifyFailingAfterTheCommitSaysTheDatabaseChangedAndHowToUndoIt() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 40)
        defer { Task { await fixture.tearDown() } }
        let (file, rows) = try await fixture.reviewedCSVWithRows()
        let before = try await fixture.table()

        // A check no table meets.
        let applied = try await fixture.databaseOnly.run([
            "apply", Self.plan, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
            "--set", "verify.checks=[{name: never met, sql: 'SELECT 0', expect: '>= 1'}]",
        ])
        #expect(applied.status == 5, "\(applied.stderr)\n\(applied.stdout)")
        let (directory, manifest) = try #require(await fixture.manifests().last)
        #expect(manifest.status == .failed)
        #expect(manifest.stage("apply")?.status == .succeeded)
        #expect(manifest.stage("verify")?.status == .failed)
        #expect(try await fixture.table() != before, "the apply committed")
        let changed = try #require(manifest.stage("apply")?.counters["changed"])
        #expect(
            applied.stdout.contains(
                "the database changed: stage 'apply' committed before the run ended (\(changed) rows changed)"),
            "\(applied.stdout)")
        // Both commands work as printed, at a terminal or not.
        #expect(applied.stdout.contains("  sluice undo \(directory.path) --dry-run\n"), "\(applied.stdout)")
        #expect(applied.stdout.contains("  sluice undo \(directory.path) --yes\n"), "\(applied.stdout)")
        #expect(applied.stdout.contains("error in stage 'verify': 1 check failed"), "\(applied.stdout)")
        // Resuming runs the verify alone again: offered as what it is, once something is fixed.
        #expect(
            applied.stdout.contains(
                "or keep the change, and once the table or the plan (--set) is fixed, run stage 'verify' and the "
                    + "stages after it again (the apply does not run again; until something is fixed, this fails the "
                    + "same way):\n  sluice resume \(directory.path)\n"), "\(applied.stdout)")
        // The list tells this run from a failed one that changed nothing.
        let failed = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(failed.stdout.contains("  failed, apply committed  "), "\(failed.stdout)")
        // A resume runs the verify again (not the file's apply), and says whose undo puts the table back.
        let resumed = try await fixture.databaseOnly.run(["resume", directory.path])
        // Failing again, the table still holds the change: 5, as for the run it resumes.
        #expect(resumed.status == 5, "\(resumed.stderr)")
        #expect(
            resumed.stderr.contains(
                "note: stage 'apply' of run \(manifest.runID) committed, then stage 'verify' failed: the resume runs "
                    + "'verify' and the stages after it again, not the apply"),
            "\(resumed.stderr)")
        #expect(resumed.stderr.contains("to put the apply back instead: sluice undo \(directory.path)"))
        #expect(resumed.stdout.contains("(resume of \(manifest.runID), from verify)"), "\(resumed.stdout)")

        let undone = try await fixture.databaseOnly.run([
            "undo", manifest.runID, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(undone.status == 0, "\(undone.stderr)")
        #expect(try await fixture.table() == before)
        // The run records it: `sluice runs` shows it undone, `runs show` with what was put back.
        let recorded = try #require(await fixture.manifests().last { $0.manifest.runID == manifest.runID }?.manifest)
        #expect(recorded.undos.map(\.stage) == ["apply"])
        #expect(recorded.undos.first?.restored == changed)
        let listed = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        // Listed as a run of `sluice apply`, not of the plan.
        #expect(
            listed.stdout.contains("\(manifest.runID)  spotify-enrichment  apply    failed, undone"), "\(listed.stdout)"
        )
        let shown = try await fixture.sluice.run(["runs", "show", directory.path])
        #expect(shown.stdout.contains("undone (stage 'apply') at "), "\(shown.stdout)")
        #expect(shown.stdout.contains(": restored \(changed) row"), "\(shown.stdout)")
        #expect(!shown.stdout.contains("the database changed"), "undone: \(shown.stdout)")
    }

    /// A plan's run whose verify failed once its apply committed, resumed: the resume runs the
    /// verify alone (it used to run the plan again, find nothing to change, fail the same way and
    /// offer the same resume again), says the apply stands and whose undo puts it back, and
    /// passes once the check is fixed, without the query, fetch or apply running.
    @Test func aResumeOfAFailedVerifyChecksAgainAloneAndSaysTheApplyStands() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 30)
        defer { Task { await fixture.tearDown() } }
        let failed = try await fixture.run([
            "--yes", "--set", "verify.checks=[{name: never met, sql: 'SELECT 0', expect: '>= 1'}]",
        ])
        #expect(failed.status == 5, "\(failed.stderr)\n\(failed.stdout)")
        let (original, manifest) = try #require(await fixture.manifests().last)
        let changed = try #require(manifest.stage("apply")?.counters["changed"])
        let asked = fixture.simulator.stats().apiRequests

        let again = try await fixture.sluice.run(["resume", original.path])
        #expect(again.status == 5, "\(again.stderr)\n\(again.stdout)")
        let (resumed, resume) = try #require(await fixture.manifests().last)
        #expect(resume.replayOf?.runID == manifest.runID && resume.replayOf?.resumed == true)
        #expect(resume.stages.filter { $0.status != .skipped }.map(\.name) == ["verify"])
        #expect(fixture.simulator.stats().apiRequests == asked, "the resume asked the API")
        #expect(
            again.stdout.contains(
                "stage 'verify' failed again on what stage 'apply' of run \(manifest.runID) committed (\(changed) rows "
                    + "changed), which is still in the table; to see what undoing it restores, then to put back their "
                    + "prior values:\n  sluice undo \(original.path) --dry-run\n  sluice undo \(original.path) --yes\n"),
            "\(again.stdout)")
        #expect(again.stdout.contains("  sluice resume \(resumed.path)\n"), "\(again.stdout)")
        #expect(!again.stdout.contains("the API's answers"), "\(again.stdout)")
        // `runs show` of the resume says the same.
        let shown = try await fixture.sluice.run(["runs", "show", resumed.path])
        #expect(shown.stdout.contains("stage 'verify' failed again on what stage 'apply'"), "\(shown.stdout)")

        // The check fixed with --set: the verify passes, and nothing else ran.
        let fixed = try await fixture.sluice.run([
            "resume", resumed.path, "--set", "verify.checks=[{name: met, sql: 'SELECT 1', expect: '>= 1'}]",
        ])
        #expect(fixed.status == 0, "\(fixed.stderr)\n\(fixed.stdout)")
        let last = try #require(await fixture.manifests().last?.manifest)
        #expect(last.status == .succeeded && last.stage("apply")?.status == .skipped)
        #expect(fixture.simulator.stats().apiRequests == asked, "the resume asked the API")
    }

    /// A run whose manifest cannot be read (truncated here) is not undone from its undo file
    /// alone, which cannot say which database, nor whether it was undone already: refused, naming
    /// the file, why, and what to do, changing nothing; once the manifest is back, the undo is
    /// exact. The commands that look through the runs for others say which one they left out.
    @Test func anUnreadableManifestStopsItsUndoSayingWhyAndScansNameIt() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        // A plan's run stopped at its gate, whose review the apply below supersedes.
        let file = try await fixture.reviewedCSV()
        let gate = try await fixture.lastRunDirectory()
        let before = try await fixture.table()
        let applied = try await fixture.databaseOnly.run([
            "apply", Self.plan, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(applied.status == 0, "\(applied.stderr)")
        let run = try await fixture.lastRunDirectory()
        let after = try await fixture.table()
        let manifest = run.appendingPathComponent("manifest.json")
        let bytes = try await Files.bytes(manifest)
        try await Files.write(Array(bytes.prefix(bytes.count / 2)), to: manifest)

        let refused = try await fixture.databaseOnly.run(["undo", run.path, "--yes"])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(
            refused.stderr.contains(
                "error: cannot undo run \(run.lastPathComponent): its manifest \(manifest.path) cannot be read: not a "
                    + "Sluice run manifest: invalid JSON"),
            "\(refused.stderr)")
        #expect(
            refused.stderr.contains(
                "Its undo file apply.undo.ndjson is still there, untouched, but undo needs the manifest: it names the "
                    + "database the apply wrote to, says whether the apply committed and whether it was undone "
                    + "already, and records this undo. To go on: put back a copy of it (from a backup), or mend it "
                    + "where the error says; nothing reads or changes the run's other files meanwhile, then run this "
                    + "undo again. Nothing was changed."),
            "\(refused.stderr)")
        #expect(try await fixture.table() == after)

        // Left out of a look through the runs: said, with the file and why.
        let leftOut = "warning: \(manifest.path): not a Sluice run manifest: invalid JSON"
        let shown = try await fixture.sluice.run(["runs", "show", gate.path])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(
            shown.stderr.contains(leftOut)
                && shown.stderr.contains(
                    "; left out of the runs that say whether this one was continued, approved or superseded"),
            "\(shown.stderr)")
        // A dry run of the gate's approval, which would be refused (the next test), says so and goes on.
        let approving = try await fixture.databaseOnly.run(["replay", gate.path, "--from", "apply", "--dry-run"])
        #expect(
            approving.stderr.contains(
                "warning: a dry run, approving nothing: cannot tell whether an apply to tracks committed since the "
                    + "review of stage 'apply'")
                && approving.stderr.contains(
                    "the run manifest \(manifest.path) (not a Sluice run manifest: invalid JSON"),
            "\(approving.stderr)")

        // The manifest put back, the undo is whole.
        try await Files.write(bytes, to: manifest)
        let undone = try await fixture.databaseOnly.run(["undo", run.path, "--yes"])
        #expect(undone.status == 0, "\(undone.stderr)")
        #expect(try await fixture.table() == before)
    }

    /// The approval of a review checks that no apply to its table committed since; a run manifest
    /// beside it that cannot be read (cut short here) may be one. The approval is refused, naming
    /// the file, why and what to do, changing nothing (it warned, and applied the review that may
    /// be stale); `--force` approves without knowing, saying so.
    @Test func anApprovalThatCannotReadAManifestBesideItIsRefusedUnlessForced() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        #expect(try await fixture.run().status == 3)
        let gate = try await fixture.lastRunDirectory()
        // Another run's manifest, cut short.
        let other = URL(fileURLWithPath: fixture.runsDirectory).appendingPathComponent("20261201-000000-cutoff")
        let manifest = other.appendingPathComponent("manifest.json")
        let bytes = try await Files.bytes(gate.appendingPathComponent("manifest.json"))
        try await BlockingIO.runOnOwnThread {
            try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        }
        try await Files.write(Array(bytes.prefix(bytes.count / 2)), to: manifest)

        let approve = ["replay", gate.path, "--from", "apply", "--yes"]
        let refused = try await fixture.databaseOnly.run(approve)
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(
            refused.stderr.contains(
                "error: cannot tell whether an apply to tracks committed since the review of stage 'apply' (run "
                    + "\(gate.lastPathComponent), "),
            "\(refused.stderr)")
        #expect(
            refused.stderr.contains(
                "the run manifest \(manifest.path) (not a Sluice run manifest: invalid JSON"), "\(refused.stderr)")
        #expect(
            refused.stderr.contains(
                "cannot be read, and may be one (approving the review would then write its reviewed values over that "
                    + "apply's). To go on: put back a copy of it (from a backup), or mend it where the error says"),
            "\(refused.stderr)")
        #expect(
            refused.stderr.contains(
                "or move its run directory out of \(fixture.runsDirectory) if it is no run of this table; then approve "
                    + "again, or pass --force to approve without knowing. Nothing was changed."),
            "\(refused.stderr)")
        #expect(try await fixture.table() == before)
        #expect(await fixture.manifests().count == 1, "the refused approval started a run")

        let forced = try await fixture.databaseOnly.run(approve + ["--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(
            forced.stderr.contains(
                "warning: --force: approving without knowing: cannot tell whether an apply to tracks committed since"),
            "\(forced.stderr)")
        #expect(try await fixture.table() != before)
    }

    /// On a terminal `sluice apply` shows the review and asks; declined, it stops at the gate as
    /// without a terminal, and its summary names the review shown above instead of repeating it.
    @Test func onATerminalTheReviewIsShownOnceAndADeclinedApplyChangesNothing() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let file = try await fixture.reviewedCSV()
        let before = try await fixture.table()
        let declined = try await fixture.databaseOnly.runOnTerminal(
            ["apply", Self.plan, file.path, "--runs-dir", fixture.runsDirectory], answer: "n")
        #expect(declined.status == 3, "\(declined.stderr)\n\(declined.stdout)")
        let table = "column              fill  update  clear"
        #expect(declined.stderr.contains("review of tracks (update): "), "\(declined.stderr)")
        #expect(declined.stderr.contains(table), "\(declined.stderr)")
        #expect(declined.stderr.contains("Run it now? [y/N]"), "\(declined.stderr)")
        #expect(declined.stdout.contains("review.html (shown above)"), "\(declined.stdout)")
        #expect(!declined.stdout.contains(table), "the summary repeats the review:\n\(declined.stdout)")
        #expect(declined.stdout.contains("--from apply --yes"), "\(declined.stdout)")
        #expect(try await fixture.table() == before)
        // `runs show` still prints the whole review.
        let shown = try await fixture.sluice.run(["runs", "show", try await fixture.lastRunDirectory().path])
        #expect(shown.stdout.contains(table), "\(shown.stdout)")

        // A Ctrl-C while it asks ends it at once (it does not wait for a line), changing nothing.
        let started = ContinuousClock.now
        let interrupted = try await fixture.databaseOnly.runOnTerminal(
            ["apply", Self.plan, file.path, "--runs-dir", fixture.runsDirectory], answer: nil)
        #expect(interrupted.status == 130, "\(interrupted.stderr)\n\(interrupted.stdout)")
        #expect(ContinuousClock.now - started < .seconds(100), "it waited for the answer")
        #expect(try await fixture.table() == before)

        // Approved at the prompt, it applies and verifies.
        let approved = try await fixture.databaseOnly.runOnTerminal(
            ["apply", Self.plan, file.path, "--runs-dir", fixture.runsDirectory], answer: "y")
        #expect(approved.status == 0, "\(approved.stderr)\n\(approved.stdout)")
        #expect(approved.stdout.contains("review.html (shown above)"), "\(approved.stdout)")
        #expect(await fixture.manifests().last?.manifest.stage("verify")?.status == .succeeded)
        #expect(try await fixture.table() != before)
    }

    /// Replaying an apply onto a table still holding what an apply of the same recorded rows left
    /// reads neither the rows nor the table's matching rows: one scan says nothing would change,
    /// and the run says so, counting as a re-apply that reads them counts. A cell changed since
    /// (even outside the rows reviewed) makes it apply as usual.
    @Test func aReplayOfAnInputAppliedAlreadyReadsNothing() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let (file, rows) = try await fixture.reviewedCSVWithRows()
        let sluice = fixture.databaseOnly
        // Applied and undone: its replay has the recorded rows to write again.
        let applied = try await sluice.run([
            "apply", Self.plan, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(applied.status == 0, "\(applied.stderr)")
        let recorded = try await fixture.lastRunDirectory().path
        let states = URL(fileURLWithPath: fixture.runsDirectory).appendingPathComponent(".applied")
        let stateFiles = {
            try await BlockingIO.runOnOwnThread { try FileManager.default.contentsOfDirectory(atPath: states.path) }
        }
        #expect(try await stateFiles().count == 1)
        let undone = try await sluice.run(["undo", recorded, "--yes"])
        #expect(undone.status == 0, "\(undone.stderr)")
        // Undone, the state its apply kept is gone: applying the file again would otherwise say
        // the table holds what that run left when another run's values are there.
        #expect(try await stateFiles().isEmpty)
        func replay() async throws -> (output: String, counters: [String: Int], rowsIn: Int?) {
            let run = try await sluice.run([
                "replay", recorded, "--stage", "apply", "--yes", "--runs-dir", fixture.runsDirectory,
            ])
            #expect(run.status == 0, "\(run.stderr)")
            let apply = try #require(await fixture.manifests().last?.manifest.stage("apply"))
            return (run.stdout + run.stderr, apply.counters, apply.rowsIn)
        }
        let first = try await replay()
        #expect((first.counters["changed"] ?? 0) > 0 && !first.output.contains("nothing to write"), "\(first.output)")
        let table = try await fixture.table()
        // The recorded rows' state, kept by the replay.
        #expect(try await stateFiles().count == 1)

        let again = try await replay()
        #expect(
            again.output.contains("nothing to write: tracks still holds what applying this same input left"),
            "\(again.output)")
        #expect(again.counters["changed"] == 0 && again.rowsIn == 0)
        var expected = first.counters
        expected["changed"] = 0
        expected["unchanged"] = first.counters["matched"]
        expected["analyzed"] = nil
        #expect(again.counters == expected)
        #expect(try await fixture.table() == table)
        // Not a run: `sluice runs` lists the runs only.
        let listed = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(listed.status == 0 && !listed.stderr.contains(".applied"), "\(listed.stderr)")

        // Someone changed a track the file does not name: the table is not what the apply left,
        // so it is read and applied as usual (nothing to change there); one it names, rewritten.
        let named = try #require(rows.dropFirst().first?.first)
        _ = try await fixture.server.execute(
            "UPDATE tracks SET isrc = 'ZZZ000000001' WHERE id NOT IN (\(rows.dropFirst().map { "'\($0[0])'" }.joined(separator: ",")));"
                + "UPDATE tracks SET spotify_popularity = 1 WHERE id = '\(named)'",
            conninfo: fixture.conninfo)
        let changed = try await replay()
        #expect(!changed.output.contains("nothing to write"), "\(changed.output)")
        #expect(changed.counters["changed"] == 1 && (changed.rowsIn ?? 0) > 0)
        let skipped = try await replay()
        #expect(skipped.output.contains("nothing to write"), "\(skipped.output)")
    }

    /// `sluice apply FILE.csv --yes` of a file it applied before, onto a table still holding what
    /// that apply left, reads neither the file (it hashes it) nor the rows: the run records the
    /// earlier run's spool of the file's rows as its own, so replaying it still has the rows. A
    /// cell changed since, a file edited since or the earlier run removed: read and applied as
    /// usual.
    @Test func aCSVAppliedAgainIsNotReadWhileTheTableHoldsWhatItLeft() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        var (file, rows) = try await fixture.reviewedCSVWithRows()
        let sluice = fixture.databaseOnly
        let runs = fixture.runsDirectory
        func apply() async throws -> (output: String, run: (directory: URL, manifest: Manifest)) {
            let applied = try await sluice.run(["apply", Self.plan, file.path, "--runs-dir", runs, "--yes"])
            #expect(applied.status == 0, "\(applied.stderr)")
            return (applied.stdout + applied.stderr, try #require(await fixture.manifests().last))
        }
        let first = try await apply()
        let firstApply = try #require(first.run.manifest.stage("apply"))
        let firstInput = try #require(first.run.manifest.stage("csv-input"))
        #expect((firstApply.counters["changed"] ?? 0) > 0 && firstInput.rowsOut == rows.count - 1)
        let table = try await fixture.table()

        let again = try await apply()
        #expect(
            again.output.contains("nothing to write: tracks still holds what applying this same input left"),
            "\(again.output)")
        let input = try #require(again.run.manifest.stage("csv-input"))
        let reapplied = try #require(again.run.manifest.stage("apply"))
        // Nothing read, the file recorded as hashed, the earlier run's spool as this run's rows.
        #expect(input.status == .succeeded && input.rowsOut == 0 && reapplied.rowsIn == 0)
        #expect(input.inputs.map(\.sha256) == firstInput.inputs.map(\.sha256))
        #expect(input.counters == firstInput.counters)
        // Linked into this run: it keeps the rows whatever becomes of the earlier run.
        let firstSpool = try #require(firstInput.spool)
        #expect(input.spool == firstSpool)
        #expect(reapplied.inputs == [try #require(input.spool)])
        let spoolFiles = [first.run.directory, again.run.directory].map {
            $0.appendingPathComponent("csv-input.ndjson").path
        }
        let inodes = try await BlockingIO.runOnOwnThread {
            try spoolFiles.map { try FileManager.default.attributesOfItem(atPath: $0)[.systemFileNumber] as? Int }
        }
        #expect(inodes[0] != nil && inodes[0] == inodes[1])
        // Its review names those rows, as a review of rows read does.
        #expect(reapplied.review?.inputSHA256 == firstSpool.sha256)
        #expect(firstApply.review?.inputSHA256 == firstSpool.sha256)
        var expected = firstApply.counters
        expected["changed"] = 0
        expected["unchanged"] = firstApply.counters["matched"]
        expected["analyzed"] = nil
        #expect(reapplied.counters == expected)
        #expect(again.run.manifest.stage("verify")?.counters["passed"] == 3)
        #expect(try await fixture.table() == table)

        // Its apply replayed reads the rows the earlier run recorded, even with that run gone.
        try await BlockingIO.runOnOwnThread { try FileManager.default.removeItem(at: first.run.directory) }
        let replayed = try await sluice.run([
            "replay", again.run.directory.path, "--stage", "apply", "--yes", "--runs-dir", runs,
        ])
        #expect(replayed.status == 0, "\(replayed.stderr)")
        let replay = try #require(await fixture.manifests().last?.manifest.stage("apply"))
        #expect(replay.rowsIn == rows.count - 1 && replay.counters["changed"] == 0)

        // A track the file names, changed since: read and applied; then skipped again.
        let named = try #require(rows.dropFirst().first?.first)
        _ = try await fixture.server.execute(
            "UPDATE tracks SET spotify_popularity = 1 WHERE id = '\(named)'", conninfo: fixture.conninfo)
        let changed = try await apply()
        #expect(!changed.output.contains("nothing to write"), "\(changed.output)")
        #expect(changed.run.manifest.stage("apply")?.counters["changed"] == 1)
        #expect(changed.run.manifest.stage("csv-input")?.rowsOut == rows.count - 1)
        #expect(try await apply().output.contains("nothing to write"))

        // The file edited: read, its one changed value written.
        rows[1][2] = String(((Int(rows[1][2]) ?? 0) + 1) % 101)
        try await Files.write(Array(CSVText.lines(rows, end: "\n").utf8), to: file)
        let edited = try await apply()
        #expect(!edited.output.contains("nothing to write"), "\(edited.output)")
        #expect(edited.run.manifest.stage("apply")?.counters["changed"] == 1)

        // The run that read it removed: read again, nothing to change.
        try await BlockingIO.runOnOwnThread { try FileManager.default.removeItem(at: edited.run.directory) }
        let orphaned = try await apply()
        #expect(!orphaned.output.contains("nothing to write"), "\(orphaned.output)")
        #expect(orphaned.run.manifest.stage("csv-input")?.rowsOut == rows.count - 1)
        #expect(orphaned.run.manifest.stage("apply")?.counters["changed"] == 0)
    }

    /// From 50,000 rows an apply approved up front reviews on a second connection while its
    /// UPDATE runs, and from 20,000 it writes the file's rows while it reads the rest
    /// (`BulkUpdate.writesWhileCopying`): the review still lists every changed cell, the undo file
    /// every prior value (undo puts the table back exactly), and the same file applied again
    /// changes nothing.
    @Test func aLargeApplyReviewedBesideItsUpdateIsExactAndUndoes() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 10)
        defer { Task { await fixture.tearDown() } }
        let count = 50_000  // the least that reviews beside the UPDATE
        func id(_ n: Int) -> String {
            "e0000000-0000-4000-8000-" + String(repeating: "0", count: 12 - "\(n)".count) + "\(n)"
        }
        _ = try await fixture.server.execute(
            """
            INSERT INTO tracks (id, title, spotify_id, spotify_popularity, isrc)
            SELECT format('e0000000-0000-4000-8000-%s', lpad(n::text, 12, '0'))::uuid, 'Track ' || n,
                   substr(md5(n::text), 1, 22), CASE WHEN n % 2 = 1 THEN n % 100 END,
                   CASE WHEN n % 3 = 0 THEN 'USAAA' || lpad(n::text, 7, '0') END
            FROM generate_series(1, \(count)) AS n
            """, conninfo: fixture.conninfo)
        let before = try await fixture.table()
        // Every row: a popularity (the same as the table's for n % 100 == n % 101, kept where
        // empty for n % 5 == 0) and an ISRC (cleared for n % 7 == 0).
        var csv = "track_id,spotify_id,spotify_popularity,isrc\r\n"
        for n in 1...count {
            let popularity = n % 5 == 0 ? "" : "\(n % 101)"
            let isrc = n % 7 == 0 ? "" : "USBBB" + String(repeating: "0", count: 7 - "\(n)".count) + "\(n)"
            csv += "\(id(n)),abcdefghijklmnopqrstuv,\(popularity),\(isrc)\r\n"
        }
        let file = fixture.directory.appendingPathComponent("large.csv")
        try await Files.write(Array(csv.utf8), to: file)
        let sluice = fixture.databaseOnly
        let applied = try await sluice.run([
            "apply", Self.plan, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(applied.status == 0, "\(applied.stderr)\n\(applied.stdout)")
        let run = try #require(await fixture.manifests().last)
        let apply = try #require(run.manifest.stage("apply"))
        let review = try #require(apply.review)
        let after = try await fixture.table()
        // What the review lists is what changed, cell by cell.
        var changedCells = 0
        var changedRows = 0
        for (key, row) in after where row != before[key] {
            changedRows += 1
            changedCells += zip(row.prefix(2), (before[key] ?? []).prefix(2)).filter { $0 != $1 }.count
        }
        #expect(changedRows > count / 2)
        #expect(apply.counters["changed"] == changedRows)
        #expect(ReviewSummary(json: review.summary)?.changedRows == changedRows)
        #expect(review.file.rows == changedCells)
        let reviewLines = try await Files.text(run.directory.appendingPathComponent("review.csv"))
            .split(separator: "\r\n")
        #expect(reviewLines.count == changedCells + 1)
        let undoFile = try #require(apply.outputs.first { $0.kind == "undo" })
        #expect(undoFile.rows == changedRows)

        let again = try await sluice.run(["apply", Self.plan, file.path, "--runs-dir", fixture.runsDirectory, "--yes"])
        #expect(again.status == 0, "\(again.stderr)\n\(again.stdout)")
        #expect(await fixture.manifests().last?.manifest.stage("apply")?.counters["changed"] == 0)
        #expect(try await fixture.table() == after)

        let undone = try await sluice.run(["undo", run.directory.path, "--yes"])
        #expect(undone.status == 0, "\(undone.stderr)\n\(undone.stdout)")
        let restored = try await fixture.table()
        // updated_at is the table's own (a trigger may move it); the values are back.
        #expect(restored.mapValues { Array($0.prefix(4)) } == before.mapValues { Array($0.prefix(4)) })

        // Held to a person's review instead: its approval writes the rows as it reads them back,
        // the review's fingerprint compared beside the write. The same cells change, and undo.
        let (_, gate) = try await Self.stopAtTheGate(file, on: fixture, by: sluice)
        let approved = try await sluice.run(["replay", gate.path, "--from", "apply", "--yes"])
        #expect(approved.status == 0, "\(approved.stderr)\n\(approved.stdout)")
        let approval = try #require(await fixture.manifests().last)
        #expect(approval.manifest.stage("apply")?.counters["changed"] == changedRows)
        #expect(approval.manifest.stage("apply")?.counters["drifted"] == 0)
        #expect(try await fixture.table().mapValues { Array($0.prefix(4)) } == after.mapValues { Array($0.prefix(4)) })
        let undoneApproval = try await sluice.run(["undo", approval.directory.path, "--yes"])
        #expect(undoneApproval.status == 0, "\(undoneApproval.stderr)\n\(undoneApproval.stdout)")
        #expect(
            try await fixture.table().mapValues { Array($0.prefix(4)) } == before.mapValues { Array($0.prefix(4)) })
    }

    /// A plan's apply held to its gate reads its input back from the run's spool when approved:
    /// as fast as the file is read, so from 20,000 rows it writes them as it reads them, the
    /// review's fingerprint compared beside the write. The reviewed cells change, and undo.
    @Test func anApprovedRunWritesItsRecordedRowsAsItReadsThem() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 10)
        defer { Task { await fixture.tearDown() } }
        let count = 25_000
        _ = try await fixture.server.execute(
            """
            INSERT INTO tracks (id, title, spotify_id)
            SELECT format('e0000000-0000-4000-8000-%s', lpad(n::text, 12, '0'))::uuid, 'Track ' || n, 'sp' || n
            FROM generate_series(1, \(count)) AS n
            """, conninfo: fixture.conninfo)
        let before = try await fixture.table()
        var csv = "track_id,spotify_popularity,isrc\n"
        for n in 1...count {
            csv += "e0000000-0000-4000-8000-\(String(repeating: "0", count: 12 - "\(n)".count))\(n),\(n % 101),US\(n)\n"
        }
        let file = fixture.directory.appendingPathComponent("rows.csv")
        try await Files.write(Array(csv.utf8), to: file)
        let plan = fixture.directory.appendingPathComponent("recorded.yaml")
        try await Files.write(
            Array(
                """
                version: 1
                name: recorded-approval
                connections:
                  db: { kind: postgres, url: "${DATABASE_URL}" }
                stages:
                  - { name: src, kind: read-csv, path: \(file.path) }
                  - name: apply
                    kind: apply
                    requires_approval: true
                    connection: db
                    table: tracks
                    key: id
                    key_field: track_id
                    columns:
                      spotify_popularity: { from: spotify_popularity, on_empty: keep }
                      isrc: { from: isrc, on_empty: clear }

                """.utf8), to: plan)
        let sluice = fixture.databaseOnly
        let gated = try await sluice.run(["run", plan.path, "--runs-dir", fixture.runsDirectory])
        #expect(gated.status == 3, "\(gated.stderr)\n\(gated.stdout)")
        let gate = try #require(await fixture.manifests().last)
        let approved = try await sluice.run([
            "replay", gate.directory.path, "--from", "apply", "--yes", "--log-level", "info",
        ])
        #expect(approved.status == 0, "\(approved.stderr)\n\(approved.stdout)")
        let statements = approved.stderr.firstMatch(of: /apply\.write_statements=(\d+)/).flatMap { Int($0.1) }
        #expect((statements ?? 0) > 1, "\(approved.stderr)")
        #expect(approved.stderr.contains("apply.prior_read_beside_write=true"), "\(approved.stderr)")
        let approval = try #require(await fixture.manifests().last)
        #expect(approval.manifest.stage("apply")?.counters["changed"] == count)
        let after = try await fixture.table()
        #expect(
            after.filter { $0.key.hasPrefix("e0000000") && $0.value[0] != nil && $0.value[1] != nil }.count == count)
        let undone = try await sluice.run(["undo", approval.directory.path, "--yes"])
        #expect(undone.status == 0, "\(undone.stderr)\n\(undone.stdout)")
        #expect(try await fixture.table().mapValues { Array($0.prefix(4)) } == before.mapValues { Array($0.prefix(4)) })
    }

    /// A bad CSV and the one-line error it must give: `FILE:LINE:COL: error: ` then `fragment`.
    struct BadCase {
        var name: String
        var bytes: [UInt8]
        var line: Int
        var column: Int
        var fragment: String
        /// The stage the run fails in: csv-input (before any transaction) or apply (the database refused).
        var stage = "csv-input"
        var extra: [String] = []
    }

    /// Undo tells a cell changed since by its value: a later run that wrote the same values
    /// looks like the undone apply's. An apply undone completely is not undone again, and one
    /// that a later apply to the table followed is refused, naming it, unless --force.
    @Test func anUndoNeverRevertsALaterRunsApplyUnlessForced() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 60)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let file = fixture.directory.appendingPathComponent("reviewed.csv")
        let reviewed = try await fixture.reviewedRows()
        try await Files.write(Array(CSVText.lines(reviewed, end: "\n").utf8), to: file)
        let sluice = fixture.databaseOnly
        let apply = ["apply", Self.plan, file.path, "--runs-dir", fixture.runsDirectory, "--yes"]
        func undo(_ run: String, _ extra: [String] = []) async throws -> SluiceProcess.Outcome {
            try await sluice.run(["undo", run, "--runs-dir", fixture.runsDirectory, "--yes"] + extra)
        }

        // A, undone; then B writes the same values: undoing A again leaves B's apply alone.
        #expect(try await sluice.run(apply).status == 0)
        let first = try #require(await fixture.manifests().last?.manifest.runID)
        #expect(try await undo(first).status == 0)
        #expect(try await fixture.table() == before)
        #expect(try await sluice.run(apply).status == 0)
        let second = try #require(await fixture.manifests().last?.manifest.runID)
        let enriched = try await fixture.table()
        #expect(enriched != before)
        let again = try await undo(first)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("was undone completely at "), "\(again.stderr)")
        #expect(try await fixture.table() == enriched, "run \(second)'s apply is left as it is")

        // C changes one row's popularity after B: an undo of B is refused while C stands, naming
        // it (its dry run exits as the undo would); --force undoes B all the same.
        var rows = reviewed
        rows[1][2] = String(((Int(rows[1][2]) ?? 0) + 3) % 101)
        try await Files.write(Array(CSVText.lines(rows, end: "\n").utf8), to: file)
        #expect(try await sluice.run(apply).status == 0)
        let third = try #require(await fixture.manifests().last?.manifest.runID)
        let refused = try await undo(second)
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(
            refused.stderr.contains("error: later runs applied to tracks after this one and are not undone: \(third)"),
            "\(refused.stderr)")
        #expect(
            refused.stderr.contains("sluice undo \(third) --runs-dir \(fixture.runsDirectory) --yes"),
            "\(refused.stderr)")
        let dry = try await sluice.run(["undo", second, "--runs-dir", fixture.runsDirectory, "--dry-run"])
        #expect(dry.status == 1, "the status the undo would have: \(dry.stderr)")
        let latest = try await fixture.table()
        #expect(latest != enriched)
        // C's manifest unreadable (truncated), the undo cannot see whether C applied since: it
        // is refused all the same, saying why, rather than undo C's rows without a word.
        let thirdManifest = URL(fileURLWithPath: fixture.runsDirectory).appendingPathComponent(third)
            .appendingPathComponent("manifest.json")
        let kept = try await Files.text(thirdManifest)
        try await Files.write([], to: thirdManifest)
        let blind = try await undo(second)
        #expect(blind.status == 1, "\(blind.stderr)")
        #expect(
            blind.stderr.contains(
                "error: cannot tell whether a later run applied to the same table: 1 run manifest in "),
            "\(blind.stderr)")
        #expect(try await fixture.table() == latest)
        try await Files.write(Array(kept.utf8), to: thirdManifest)
        let forced = try await undo(second, ["--force"])
        #expect(forced.stderr.contains("warning: --force: later runs applied to tracks"), "\(forced.stderr)")
        #expect(try await fixture.table() != latest, "forced, it undid what it could")
    }

    /// A trigger caps popularity at 90 where the CSV says 95-97: the apply says which cells the
    /// table holds otherwise than reviewed, and its undo restores every row and exits 0 (it used
    /// to take the capped cells for someone else's change and exit 6 for ever).
    @Test func cellsATriggerCappedAreReportedAndTheUndoRestoresThem() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 40)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        var rows = try await fixture.reviewedRows()
        try #require(rows.count > 4)
        for index in 1...3 { rows[index][2] = String(94 + index) }
        let file = fixture.directory.appendingPathComponent("reviewed.csv")
        try await Files.write(Array(CSVText.lines(rows, end: "\n").utf8), to: file)
        _ = try await fixture.server.execute(
            """
            CREATE FUNCTION tracks_cap() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.spotify_popularity > 90 THEN NEW.spotify_popularity := 90; END IF; RETURN NEW; END $$;
            CREATE TRIGGER tracks_cap BEFORE UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION tracks_cap()
            """, conninfo: fixture.conninfo)
        let sluice = fixture.databaseOnly
        let applied = try await sluice.run([
            "apply", Self.plan, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(applied.status == 0, "\(applied.stderr)\n\(applied.stdout)")
        let manifest = try #require(await fixture.manifests().last?.manifest)
        // Those three, and any other row the fetch gave more than 90 (what the table held differs).
        let capped = rows.dropFirst().filter { (Int($0[2]) ?? 0) > 90 && before[$0[0]]?[0] != $0[2] }.count
        #expect(capped >= 3)
        #expect(manifest.stage("apply")?.counters["altered_by_trigger"] == capped)
        #expect(
            applied.stdout.contains(
                "a trigger on tracks stored other values than the apply wrote in \(capped) cells of \(capped) rows"),
            "\(applied.stdout)")
        #expect(applied.stdout.contains("\(rows[1][0]) spotify_popularity 95 -> 90"), "\(applied.stdout)")
        #expect(try await fixture.table()[rows[1][0]]?[0] == "90")

        let undone = try await sluice.run(["undo", manifest.runID, "--runs-dir", fixture.runsDirectory, "--yes"])
        #expect(undone.status == 0, "\(undone.stderr)\n\(undone.stdout)")
        #expect(try await fixture.table() == before)
    }

    /// A trigger upper-cases isrc, and three rows held lower-case ISRCs from before it: the undo
    /// writes those back and the trigger stores them upper-cased. The undo names the cells that
    /// do not hold their prior values and exits 6, and the run reads partly undone (it said every
    /// row was restored, exit 0).
    @Test func anUndoWhoseValuesATriggerRewritesNamesTheCellsAndIsPartial() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 40)
        defer { Task { await fixture.tearDown() } }
        var rows = try await fixture.reviewedRows()
        try #require(rows.count > 4)
        let ids = rows[1...3].map { $0[0] }
        for index in 1...3 { rows[index][3] = "USABC000000\(index)" }
        let file = fixture.directory.appendingPathComponent("reviewed.csv")
        try await Files.write(Array(CSVText.lines(rows, end: "\n").utf8), to: file)
        _ = try await fixture.server.execute(
            """
            UPDATE tracks SET isrc = 'old-' || left(id::text, 8) WHERE id IN (\(ids.map { "'\($0)'" }.joined(separator: ", ")));
            CREATE FUNCTION tracks_upper() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN NEW.isrc := upper(NEW.isrc); RETURN NEW; END $$;
            CREATE TRIGGER tracks_upper BEFORE UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION tracks_upper()
            """, conninfo: fixture.conninfo)
        let before = try await fixture.table()
        let sluice = fixture.databaseOnly
        let applied = try await sluice.run([
            "apply", Self.plan, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(applied.status == 0, "\(applied.stderr)\n\(applied.stdout)")
        let manifest = try #require(await fixture.manifests().last?.manifest)

        let undone = try await sluice.run(["undo", manifest.runID, "--runs-dir", fixture.runsDirectory, "--yes"])
        #expect(undone.status == 6, "\(undone.stderr)\n\(undone.stdout)")
        #expect(
            undone.stdout.contains(
                "not restored: a trigger on tracks stored other values than the prior ones the undo wrote in 3 cells "
                    + "of 3 rows"), "\(undone.stdout)")
        let prior = try #require(before[ids[0]]?[1] ?? nil)
        #expect(undone.stdout.contains("\(ids[0]) isrc \(prior) -> \(prior.uppercased())"), "\(undone.stdout)")
        #expect(try await fixture.table()[ids[0]]?[1] == prior.uppercased())
        let runs = try await sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(runs.stdout.contains("succeeded, partly undone"), "\(runs.stdout)")
    }

    /// A rule checks a cell, it does not rewrite it: `042` under the plan's `type: int` goes into
    /// a text column as written (it went in as `42`), and a cell the column holds already, as
    /// written, is no change.
    @Test func aCellGoesInAsWrittenWhateverTypeItsRuleReadsItAs() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        var rows = try await fixture.reviewedRows()
        _ = try await fixture.server.execute(
            """
            ALTER TABLE tracks DROP CONSTRAINT tracks_spotify_popularity_check;
            ALTER TABLE tracks ALTER COLUMN spotify_popularity TYPE text;
            UPDATE tracks SET spotify_popularity = '007' WHERE id = '\(rows[2][0])'
            """, conninfo: fixture.conninfo)
        rows[1][2] = "042"
        rows[2][2] = "007"
        let file = fixture.directory.appendingPathComponent("reviewed.csv")
        try await Files.write(Array(CSVText.lines(rows, end: "\n").utf8), to: file)
        let applied = try await fixture.databaseOnly.run([
            "apply", Self.plan, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(applied.status == 0, "\(applied.stderr)\n\(applied.stdout)")
        let table = try await fixture.table()
        #expect(table[rows[1][0]]?[0] == "042")
        #expect(table[rows[2][0]]?[0] == "007")
        let review = try await Files.text(
            try await fixture.lastRunDirectory().appendingPathComponent("review.csv"))
        #expect(!review.contains("\(rows[2][0]),spotify_popularity"), "\(review)")
    }

    /// A `sluice apply` that stopped before its apply (a bad file, a kill at its prompt) is
    /// continued by applying the file again as it was started: `resume` says so, with `--yes`
    /// only when the run had it (it offered `--yes` always, approving what nobody reviewed).
    @Test(arguments: [false, true]) func resumingAnApplyOfACSVSaysToApplyItAgainAsStarted(yes: Bool) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        var rows = try await fixture.reviewedRows()
        rows[1][2] = "abc"
        let file = fixture.directory.appendingPathComponent("abc.csv")
        try await Files.write(Array(CSVText.lines(rows, end: "\n").utf8), to: file)
        let sluice = fixture.databaseOnly
        let failed = try await sluice.run(
            ["apply", Self.plan, file.path, "--runs-dir", fixture.runsDirectory] + (yes ? ["--yes"] : []))
        #expect(failed.status == 1, "\(failed.stderr)")
        let resumed = try await sluice.run(["resume", try await fixture.lastRunDirectory().path])
        #expect(resumed.status == 1)
        #expect(resumed.stderr.contains("to continue, apply it again: sluice apply "), "\(resumed.stderr)")
        #expect(resumed.stderr.contains(file.path), "\(resumed.stderr)")
        #expect(resumed.stderr.contains("--yes") == yes, "\(resumed.stderr)")
    }

    /// The approval of a `sluice apply` run's review (`replay --from apply`) that failed (the
    /// table changed since the review) is resumed as that approval, held to the same review, on
    /// the rows it recorded; it used to be taken for the `sluice apply` run and refused, "apply it
    /// again", with its own resume command as the way to do so.
    @Test func resumingTheApprovalOfACSVApplyReplaysItsApply() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        let (file, rows) = try await fixture.reviewedCSVWithRows()
        let sluice = fixture.databaseOnly
        let (_, stopped) = try await Self.stopAtTheGate(file, on: fixture, by: sluice)
        // A reviewed row changed since the review.
        let id = rows[1][0]
        let prior = try #require(await fixture.table()[id])[1]
        _ = try await fixture.server.execute(
            "UPDATE tracks SET isrc = 'XX' WHERE id = '\(id)'", conninfo: fixture.conninfo)
        let approval = try await sluice.run(["replay", stopped.path, "--from", "apply", "--yes"])
        #expect(approval.status == 1, "\(approval.stderr)")
        #expect(approval.stdout.contains("changed since the review"), "\(approval.stdout)")
        let approving = try await fixture.lastRunDirectory()
        // The row put back as reviewed, the resume applies the review.
        _ = try await fixture.server.execute(
            "UPDATE tracks SET isrc = \(prior.map { "'\($0)'" } ?? "NULL") WHERE id = '\(id)'",
            conninfo: fixture.conninfo)
        let resumed = try await sluice.run(["resume", approving.path, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)\n\(resumed.stdout)")
        #expect(resumed.stderr.contains("resuming replays from 'apply' again"), "\(resumed.stderr)")
        #expect(!resumed.stderr.contains("apply it again"), "\(resumed.stderr)")
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.replayOf?.resumed == true && manifest.stage("apply")?.status == .succeeded)
        #expect(manifest.stage("csv-input")?.status == .skipped)
        // `resume --help` says what becomes of either.
        let help = try await sluice.run(["resume", "--help"])
        let words = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(
            words.contains(
                "A run of `sluice apply FILE.csv` is not resumed: resume changes nothing, prints the `sluice apply` "
                    + "command that reads, checks and applies the file again as the run was started (with --yes only "
                    + "if it had it), and exits 1. The approval of such a run's review (`replay --from apply`) is "
                    + "resumed as that replay"),
            "\(help.stdout)")
    }

    /// A run stopped at its gate that a later run approved (a run of the plan, a `sluice apply`
    /// run) has nothing left to resume: resume said it waits for approval and exited 3. One whose
    /// review an apply to the table superseded since is not sent to the approval that is refused:
    /// resume says why, as that approval does. Neither runs anything.
    @Test func resumingAGateApprovedOrSupersededSinceSaysSoAndRunsNothing() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 40)
        defer { Task { await fixture.tearDown() } }
        let sluice = fixture.databaseOnly
        var rows = try await fixture.reviewedRows()
        /// The last run's directory and id.
        func last() async throws -> (URL, String) {
            let (directory, manifest) = try #require(await fixture.manifests().last)
            return (directory, manifest.runID)
        }
        /// Approves `gate` and returns the approval's run id.
        func approve(_ gate: URL) async throws -> String {
            let approved = try await sluice.run(["replay", gate.path, "--from", "apply", "--yes"])
            #expect(approved.status == 0, "\(approved.stderr)")
            return try await last().1
        }
        /// The reviewed rows with one popularity set to `popularity`, as a file.
        func edited(_ popularity: Int) async throws -> URL {
            rows[1][2] = String(popularity)
            let file = fixture.directory.appendingPathComponent("edited-\(popularity).csv")
            try await Files.write(Array(CSVText.lines(rows, end: "\n").utf8), to: file)
            return file
        }
        let (planGate, planGateID) = try await last()
        let planApproval = try await approve(planGate)
        _ = try await Self.stopAtTheGate(try await edited(7), on: fixture, by: sluice)
        let (csvGate, csvGateID) = try await last()
        let csvApproval = try await approve(csvGate)
        _ = try await Self.stopAtTheGate(try await edited(8), on: fixture, by: sluice)
        let (stale, staleID) = try await last()
        let applied = try await sluice.run([
            "apply", Self.plan, try await edited(9).path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(applied.status == 0, "\(applied.stderr)")
        let later = try await last().1
        let (runs, table) = (await fixture.manifests().count, try await fixture.table())

        for (gate, id, approval) in [(planGate, planGateID, planApproval), (csvGate, csvGateID, csvApproval)] {
            let resumed = try await sluice.run(["resume", gate.path])
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(
                resumed.stderr.contains(
                    "note: run \(approval) already continued run \(id) and succeeded: there is nothing to resume"),
                "\(resumed.stderr)")
        }
        let refused = try await sluice.run(["resume", stale.path])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(
            refused.stderr.contains(
                "error: run \(staleID) stopped at a gate, and approving it is refused: the review of stage 'apply' "
                    + "(run \(staleID), "),
            "\(refused.stderr)")
        #expect(
            refused.stderr.contains(
                "is older than applies to tracks that committed since: \(later) (stage 'apply'); approving it would "
                    + "write its reviewed values over theirs. Review again (run the plan, or sluice apply on an edited "
                    + "CSV, anew), or pass --force to apply this review anyway (sluice replay \(stale.path) --from "
                    + "apply --yes --force)"),
            "\(refused.stderr)")
        #expect(!refused.stderr.contains("waits for approval"), "\(refused.stderr)")
        #expect(await fixture.manifests().count == runs, "resume started a run")
        #expect(try await fixture.table() == table)
    }

    /// A domain's CHECK refuses a cell as the rows are copied in: the error is located in the
    /// file (it was "value for domain ... violates check constraint", no line).
    @Test func aValueADomainRefusesIsLocatedInTheFile() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE DOMAIN percent AS int CHECK (VALUE BETWEEN 0 AND 100);
            ALTER TABLE tracks DROP CONSTRAINT tracks_spotify_popularity_check;
            ALTER TABLE tracks ALTER COLUMN spotify_popularity TYPE percent
            """, conninfo: fixture.conninfo)
        var rows = try await fixture.reviewedRows()
        rows[2][2] = "140"
        let file = fixture.directory.appendingPathComponent("domain.csv")
        try await Files.write(Array(CSVText.lines(rows, end: "\n").utf8), to: file)
        let before = try await fixture.table()
        let refused = try await fixture.databaseOnly.run([
            "apply", Self.plan, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
            "--set", "validate.rules.spotify_popularity.max=1000",
        ])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("\(file.path):3:"), "\(refused.stderr)")
        #expect(refused.stderr.contains("violates check constraint \"percent_check\""), "\(refused.stderr)")
        // Named by its key too, as a constraint's refusal is.
        #expect(refused.stderr.contains("'140' for track_id \(rows[2][0]) is refused"), "\(refused.stderr)")
        #expect(try await fixture.table() == before)
    }

    /// A review is approved, and an apply undone, only on the table it read or changed. A
    /// connection that finds the table's name elsewhere (another schema first on its search_path, a
    /// staging database) wrote the reviewed values there, and undid "completely" a table the apply
    /// never touched, leaving the real one changed and the run marked undone. Now it writes
    /// nothing and leaves the run as it was; on the right connection each then goes through.
    @Test func anApprovalAndAnUndoWriteOnlyTheTableTheReviewAndTheApplyFound() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        let role = TestPostgres.passwordRole
        func create(_ table: String) -> String {
            """
            CREATE TABLE \(table) (id int PRIMARY KEY, qty int);
            INSERT INTO \(table) SELECT i, i FROM generate_series(1, 3) AS i;
            GRANT SELECT, UPDATE ON \(table) TO \(role);
            """
        }
        _ = try await fixture.server.execute(
            create("drift") + "CREATE SCHEMA s2; GRANT USAGE ON SCHEMA s2 TO \(role);" + create("s2.drift"),
            conninfo: fixture.conninfo)
        let staging = try await fixture.server.makeDatabase(prefix: "sluice_staging")
        _ = try await fixture.server.execute(create("drift"), conninfo: staging)
        let database = { (conninfo: String) in
            String(conninfo.split(separator: " ").first { $0.hasPrefix("dbname=") }?.dropFirst(7) ?? "")
                .trimmingCharacters(in: ["'"])
        }
        let sluice = fixture.databaseOnly
        var otherSchema = sluice
        otherSchema.environment["DATABASE_URL"] =
            (sluice.environment["DATABASE_URL"] ?? "")
            + " options='-c search_path=s2,public'"
        var otherDatabase = sluice
        otherDatabase.environment["DATABASE_URL"] = fixture.server.tcpConninfo(
            database: database(staging), user: role, password: TestPostgres.passwordRolePassword)
        func tables() async throws -> [String?] {
            let sql = "SELECT string_agg(qty::text, ',' ORDER BY id) FROM "
            return [
                try await fixture.server.execute(sql + "public.drift", conninfo: fixture.conninfo).scalar.text,
                try await fixture.server.execute(sql + "s2.drift", conninfo: fixture.conninfo).scalar.text,
                try await fixture.server.execute(sql + "drift", conninfo: staging).scalar.text,
            ]
        }
        let plan = try await Self.tablePlan("drift", columns: ["qty"], in: fixture)
        let csv = fixture.directory.appendingPathComponent("drift.csv")
        try await Files.write(Array("id,qty\n1,101\n2,102\n".utf8), to: csv)
        let untouched = ["1,2,3", "1,2,3", "1,2,3"]
        let table = "public.drift in database \(database(fixture.conninfo))"

        let stopped = try await sluice.run(["apply", plan.path, csv.path, "--runs-dir", fixture.runsDirectory])
        #expect(stopped.status == 3, "\(stopped.stderr)")
        let gate = try await fixture.lastRunDirectory()
        for elsewhere in [otherSchema, otherDatabase] {
            let refused = try await elsewhere.run(["replay", gate.path, "--from", "apply", "--yes"])
            #expect(refused.status == 1, "\(refused.stderr)")
            let said = refused.stdout + refused.stderr
            #expect(said.contains("not as \(table), the table the review read: connect to database"), "\(said)")
            #expect(try await tables() == untouched)
        }
        let approved = try await sluice.run(["replay", gate.path, "--from", "apply", "--yes"])
        #expect(approved.status == 0, "\(approved.stderr)")
        let applied = ["101,102,3", "1,2,3", "1,2,3"]
        #expect(try await tables() == applied)

        let approval = try await fixture.lastRunDirectory()
        for elsewhere in [otherSchema, otherDatabase] {
            let refused = try await elsewhere.run(["undo", approval.path, "--yes"])
            #expect(refused.status == 1, "\(refused.stderr)")
            #expect(refused.stderr.contains("not as \(table), the table the apply changed: "), "\(refused.stderr)")
            #expect(try await tables() == applied)
        }
        let undone = try await sluice.run(["undo", approval.path, "--yes"])
        #expect(undone.status == 0, "\(undone.stderr)")
        #expect(try await tables() == untouched)
    }

    /// A role that may read every row but update only some (row-level security: an UPDATE policy
    /// narrower than the SELECT one). The write passed over the others, and the run said they
    /// "already held the values reviewed", exit 0, with half the file applied; its undo then took
    /// the rows it never wrote for rows changed since. Now the apply rolls back, naming the policy.
    @Test func rowsARowLevelSecurityPolicyKeepsFromTheWriteRollItBackNamingThePolicy() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        let (plan, csv, table) = try await Self.docs(
            policies:
                "everyone_reads ON docs FOR SELECT USING (true); CREATE POLICY owner_a_writes ON docs FOR UPDATE USING (owner = 'a') WITH CHECK (true)",
            in: fixture)
        let sluice = fixture.databaseOnly
        let gate = try await sluice.run(["apply", plan.path, csv.path, "--runs-dir", fixture.runsDirectory])
        #expect(gate.status == 3, "\(gate.stderr)")
        let reviewed = try await fixture.lastRunDirectory()
        for command in Self.applyAndApproval(plan, csv, reviewed: reviewed, in: fixture) {
            let refused = try await sluice.run(command)
            let said = refused.stdout + refused.stderr
            #expect(refused.status == 1, "\(said)")
            #expect(
                said.contains("the write passed over 2 rows whose values differ from the input's"), "\(said)")
            #expect(said.contains("its UPDATE policy owner_a_writes does not let this role write"), "\(said)")
            #expect(try await table() == "1,2,3,4")
        }
        // A rule that does instead nothing for some rows, the same.
        _ = try await fixture.server.execute(
            """
            ALTER TABLE docs DISABLE ROW LEVEL SECURITY;
            CREATE RULE keep_b AS ON UPDATE TO docs WHERE old.owner = 'b' DO INSTEAD NOTHING
            """, conninfo: fixture.conninfo)
        let ruled = try await sluice.run(
            ["apply", plan.path, csv.path, "--runs-dir", fixture.runsDirectory, "--yes"])
        #expect(ruled.status == 1, "\(ruled.stderr)")
        let ruledSaid = ruled.stdout + ruled.stderr
        #expect(ruledSaid.contains("read and meant to change: a rule on UPDATE of docs (keep_b)"), "\(ruledSaid)")
        #expect(try await table() == "1,2,3,4")
    }

    /// An undo by a role that row-level security shows only some of the rows the apply changed
    /// called the others "deleted since", exited 0 and recorded the run undone, so that even the
    /// apply's role could not undo the rest ("nothing is left to undo"). Now they are said to be
    /// perhaps hidden, the undo is partial (6), and the apply's role then restores them.
    @Test func anUndoThatRowLevelSecurityHidesRowsFromIsPartialAndTheApplysRoleFinishesIt() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        let (plan, csv, table) = try await Self.docs(
            policies: "by_owner ON docs USING (coalesce(current_setting('app.owner', true), '') IN ('', owner))",
            in: fixture)
        let sluice = fixture.databaseOnly
        let applied = try await sluice.run(["apply", plan.path, csv.path, "--runs-dir", fixture.runsDirectory, "--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(try await table() == "101,102,103,104")
        let run = try await fixture.lastRunDirectory()

        var ownerA = sluice
        ownerA.environment["DATABASE_URL"] = (sluice.environment["DATABASE_URL"] ?? "") + " options='-c app.owner=a'"
        let partly = try await ownerA.run(["undo", run.path, "--yes"])
        let said = partly.stdout + partly.stderr
        #expect(partly.status == 6, "\(said)")
        #expect(said.contains("not undone: 2 rows the apply changed are not in docs as this role sees it"), "\(said)")
        #expect(!said.contains("deleted since"), "\(said)")
        #expect(try await table() == "1,102,3,104")

        let finished = try await sluice.run(["undo", run.path, "--yes"])
        #expect(finished.status == 0, "\(finished.stdout)\n\(finished.stderr)")
        #expect(try await table() == "1,2,3,4")
    }

    /// A BEFORE UPDATE trigger created between the review and its approval (here capping the
    /// values) made the table hold other values than the person approved, exit 0. The approval
    /// now fails as drift, naming the trigger, and offers to review again.
    @Test func aTriggerCreatedSinceTheReviewFailsItsApprovalAsDrift() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        let (sluice, gate) = try await Self.stopAtTheGate(qtyTable: "capped", in: fixture)
        _ = try await fixture.server.execute(
            """
            CREATE FUNCTION cap() RETURNS trigger LANGUAGE plpgsql AS
              'BEGIN NEW.qty := least(NEW.qty, 101); RETURN NEW; END';
            CREATE TRIGGER capped_at_101 BEFORE UPDATE ON capped FOR EACH ROW EXECUTE FUNCTION cap()
            """, conninfo: fixture.conninfo)
        let refused = try await sluice.run(["replay", gate.path, "--from", "apply", "--yes"])
        let said = refused.stdout + refused.stderr
        #expect(refused.status == 1, "\(said)")
        #expect(said.contains("it has a trigger the review did not know (capped_at_101), which fires"), "\(said)")
        #expect(said.contains("to review the same rows against the table as it is now"), "\(said)")
        let qty = try await fixture.server.execute(
            "SELECT string_agg(qty::text, ',' ORDER BY id) FROM capped", conninfo: fixture.conninfo
        ).scalar.text
        #expect(qty == "1,2,3")
    }

    /// A row the review would change, deleted before the approval: the approval's summary said it
    /// "already held the values reviewed", beside a notice that its key is not in the table.
    @Test func aReviewedRowDeletedBeforeTheApprovalIsSaidToBeGoneNotAlreadyWritten() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        let (sluice, gate) = try await Self.stopAtTheGate(qtyTable: "gone", in: fixture)
        _ = try await fixture.server.execute("DELETE FROM gone WHERE id = 2", conninfo: fixture.conninfo)
        let approved = try await sluice.run(["replay", gate.path, "--from", "apply", "--yes"])
        #expect(approved.status == 0, "\(approved.stderr)")
        #expect(
            approved.stdout.contains(
                "applied: 2 of the 3 rows the review would write; 1 of them is no longer in the table (deleted since "
                    + "the review)"), "\(approved.stdout)")
        #expect(!approved.stdout.contains("already held"), "\(approved.stdout)")
    }

    /// `table` (id, qty: rows 1-3 holding 1-3), and `sluice apply` of qty 101-103 to it stopped
    /// at its gate: the sluice that ran it and the run's directory.
    static func stopAtTheGate(
        qtyTable table: String, in fixture: EnrichmentFixture
    ) async throws -> (SluiceProcess, URL) {
        _ = try await fixture.server.execute(
            """
            CREATE TABLE \(table) (id int PRIMARY KEY, qty int);
            INSERT INTO \(table) VALUES (1, 1), (2, 2), (3, 3);
            GRANT SELECT, UPDATE ON \(table) TO \(TestPostgres.passwordRole)
            """, conninfo: fixture.conninfo)
        let plan = try await Self.tablePlan(table, columns: ["qty"], in: fixture)
        let csv = fixture.directory.appendingPathComponent("\(table).csv")
        try await Files.write(Array("id,qty\n1,101\n2,102\n3,103\n".utf8), to: csv)
        let sluice = fixture.databaseOnly
        let stopped = try await sluice.run(["apply", plan.path, csv.path, "--runs-dir", fixture.runsDirectory])
        #expect(stopped.status == 3, "\(stopped.stderr)")
        return (sluice, try await fixture.lastRunDirectory())
    }

    /// `docs` (id, owner, qty: rows 1-4, owners a and b) with row-level security and
    /// `CREATE POLICY policies`; a plan applying `docs.csv` (qty 101-104) to it, the file, and its
    /// qty column as one text.
    static func docs(
        policies: String, in fixture: EnrichmentFixture
    ) async throws -> (plan: URL, csv: URL, table: @Sendable () async throws -> String?) {
        _ = try await fixture.server.execute(
            """
            CREATE TABLE docs (id int PRIMARY KEY, owner text, qty int);
            INSERT INTO docs VALUES (1, 'a', 1), (2, 'b', 2), (3, 'a', 3), (4, 'b', 4);
            GRANT SELECT, UPDATE ON docs TO \(TestPostgres.passwordRole);
            ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
            CREATE POLICY \(policies)
            """, conninfo: fixture.conninfo)
        let (server, conninfo) = (fixture.server, fixture.conninfo)
        let plan = try await Self.tablePlan("docs", columns: ["qty"], in: fixture)
        let csv = fixture.directory.appendingPathComponent("docs.csv")
        try await Files.write(Array("id,qty\n1,101\n2,102\n3,103\n4,104\n".utf8), to: csv)
        return (
            plan, csv,
            {
                try await server.execute("SELECT string_agg(qty::text, ',' ORDER BY id) FROM docs", conninfo: conninfo)
                    .scalar.text
            }
        )
    }

    /// Every value write-csv writes reads back the same through `sluice apply`: a note holding a
    /// control character (a BEL from an API, a tab, an escape, a CR inside a quoted field) is data
    /// (it was "control character 0x07 (not text)", the audit trail refused by its own apply).
    @Test func theAuditTrailOfValuesHoldingControlCharactersAppliesBackTheSameValues() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE TABLE notes (id int PRIMARY KEY, note text);
            INSERT INTO notes SELECT i, 'a' || chr(i) || 'b' FROM generate_series(1, 31) AS i;
            INSERT INTO notes VALUES (127, 'del' || chr(127)), (1000, 'bell' || chr(7) || ',"q"' || chr(13) || chr(10));
            CREATE TABLE notes_copy (id int PRIMARY KEY, note text);
            INSERT INTO notes_copy SELECT id, 'old' FROM notes;
            GRANT SELECT ON notes TO \(TestPostgres.passwordRole);
            GRANT SELECT, UPDATE ON notes_copy TO \(TestPostgres.passwordRole)
            """, conninfo: fixture.conninfo)
        let plan = fixture.directory.appendingPathComponent("notes.yaml")
        try await Files.write(
            Array(
                """
                version: 1
                name: notes
                connections:
                  db: { kind: postgres, url: "${DATABASE_URL}" }
                stages:
                  - { name: query, kind: query, connection: db, sql: "SELECT id, note FROM notes ORDER BY id" }
                  - { name: out, kind: write-csv, path: notes.csv, columns: [id, note] }
                  - { name: apply, kind: apply, connection: db, table: notes_copy, key: id, columns: { note: {} } }

                """.utf8), to: plan)
        let differing = {
            try await fixture.server.execute(
                "SELECT count(*) FROM notes JOIN notes_copy USING (id) WHERE notes.note IS DISTINCT FROM notes_copy.note",
                conninfo: fixture.conninfo
            ).rows.first?.first?.text
        }
        let sluice = fixture.databaseOnly
        let ran = try await sluice.run(["run", plan.path, "--runs-dir", fixture.runsDirectory, "--yes"])
        #expect(ran.status == 0, "\(ran.stderr)")
        #expect(try await differing() == "0")
        let csv = try await fixture.lastRunDirectory().appendingPathComponent("notes.csv")
        _ = try await fixture.server.execute("UPDATE notes_copy SET note = 'old'", conninfo: fixture.conninfo)
        let applied = try await sluice.run(["apply", plan.path, csv.path, "--runs-dir", fixture.runsDirectory, "--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(try await differing() == "0", "\(applied.stderr)")
    }

    /// A plan in `fixture`'s directory that applies a CSV (read as `TABLE.csv`; `sluice apply`
    /// gives the file) to `table` by its key `id`, writing `columns` from the fields of their name.
    static func tablePlan(_ table: String, columns: [String], in fixture: EnrichmentFixture) async throws -> URL {
        let plan = fixture.directory.appendingPathComponent("\(table).yaml")
        let written = columns.map { "\($0): {}" }.joined(separator: ", ")
        try await Files.write(
            Array(
                """
                version: 1
                name: \(table)
                connections:
                  db: { kind: postgres, url: "${DATABASE_URL}" }
                stages:
                  - { name: src, kind: read-csv, path: \(table).csv }
                  - { name: apply, kind: apply, connection: db, table: \(table), key: id, columns: { \(written) } }

                """.utf8), to: plan)
        return plan
    }

    /// An integer key written two ways (`1` and `01`) with different values: the server names the
    /// key as it prints it (`1`), and the error is located at both lines (it named no line: the
    /// file's `01` is not the text `1`).
    @Test func anIntegerKeyWrittenTwoWaysIsLocatedAtBothLines() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE TABLE items (id int PRIMARY KEY, name text);
            INSERT INTO items VALUES (1, 'a');
            GRANT SELECT, UPDATE ON items TO \(TestPostgres.passwordRole)
            """, conninfo: fixture.conninfo)
        let file = fixture.directory.appendingPathComponent("items.csv")
        try await Files.write(Array("id,name\n1,foo\n01,bar\n".utf8), to: file)
        let plan = try await Self.tablePlan("items", columns: ["name"], in: fixture)
        let refused = try await fixture.databaseOnly.run([
            "apply", plan.path, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(
            refused.stderr.contains("\(file.path):3:1: error: id 1 is given different values here and on line 2"),
            "\(refused.stderr)")
        #expect(
            try await fixture.server.execute("SELECT name FROM items", conninfo: fixture.conninfo).rows == [["a"]])
    }

    /// A row no partition takes (23514 with no constraint's name) is said to be one, named by its
    /// key and the partition key's value and located at its line and column like a CHECK's; so is
    /// a row outside the bounds of a partition the plan writes directly. It was called a NOT NULL
    /// violation, unlocated and without the key.
    @Test func aRowNoPartitionTakesIsSaidSoAndLocated() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE TABLE parts (id int NOT NULL, region text NOT NULL, qty int) PARTITION BY LIST (region);
            CREATE TABLE parts_eu PARTITION OF parts FOR VALUES IN ('eu');
            CREATE TABLE parts_us PARTITION OF parts FOR VALUES IN ('us');
            INSERT INTO parts VALUES (1, 'eu', 1), (2, 'us', 2), (3, 'eu', 3);
            GRANT SELECT, UPDATE ON parts, parts_eu TO \(TestPostgres.passwordRole)
            """, conninfo: fixture.conninfo)
        let table = {
            try await fixture.server.execute("SELECT * FROM parts ORDER BY id", conninfo: fixture.conninfo).rows
        }
        let before = try await table()
        for (name, text, located) in [
            (
                "parts", "id,region,qty\n1,eu,10\n3,asia,30\n",
                ":3:3: error: column 'region': 'asia' for id 3 fits no partition of parts"
            ),
            (
                "parts_eu", "id,region,qty\n1,eu,10\n3,us,30\n",
                ":3:3: error: column 'region': 'us' for id 3 is outside the bounds of partition parts_eu"
            ),
        ] {
            let plan = try await Self.tablePlan(name, columns: ["region", "qty"], in: fixture)
            let file = fixture.directory.appendingPathComponent("\(name).csv")
            try await Files.write(Array(text.utf8), to: file)
            let refused = try await fixture.databaseOnly.run([
                "apply", plan.path, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
            ])
            #expect(refused.status == 1, "\(name): \(refused.stderr)")
            #expect(refused.stderr.contains(file.path + located), "\(name): \(refused.stderr)")
            #expect(!(refused.stderr + refused.stdout).contains("NOT NULL"), "\(name): \(refused.stdout)")
            #expect(try await table() == before, "\(name)")
        }
    }

    /// A read-only session (or a standby: `pg_is_in_recovery()`, read by the same check, which a
    /// test cannot start) is said to be one, for `check --connect`, an apply and an undo alike;
    /// they said "cannot execute CREATE TABLE AS in a read-only transaction" while "preparing the
    /// input", which an undo does not even have.
    @Test func aReadOnlySessionIsSaidToBeOneByCheckApplyAndUndo() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE TABLE items (id int PRIMARY KEY, name text);
            INSERT INTO items VALUES (1, 'a'), (2, 'b');
            GRANT SELECT, UPDATE ON items TO \(TestPostgres.passwordRole)
            """, conninfo: fixture.conninfo)
        let plan = try await Self.tablePlan("items", columns: ["name"], in: fixture)
        let file = fixture.directory.appendingPathComponent("items.csv")
        try await Files.write(Array("id,name\n1,x\n".utf8), to: file)
        let writable = fixture.databaseOnly
        let applied = try await writable.run([
            "apply", plan.path, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(applied.status == 0, "\(applied.stderr)")
        let run = try await fixture.lastRunDirectory()
        var readOnly = writable
        readOnly.environment["DATABASE_URL"] =
            (writable.environment["DATABASE_URL"] ?? "") + " options='-c default_transaction_read_only=on'"
        let said = "the session is read-only (default_transaction_read_only is on)"

        let checked = try await readOnly.run(["check", "--connect", plan.path])
        #expect(checked.status != 0, "\(checked.stdout)")
        #expect(
            checked.stderr.contains("\(plan.path):7:") && checked.stderr.contains("error: stages.apply.table: \(said)"),
            "\(checked.stderr)\n\(checked.stdout)")
        try await Files.write(Array("id,name\n2,y\n".utf8), to: file)
        let refused = try await readOnly.run([
            "apply", plan.path, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(
            (refused.stderr + refused.stdout).contains(
                "\(said): an apply writes, so point the connection at the primary"),
            "\(refused.stderr)\n\(refused.stdout)")
        let undo = try await readOnly.run(["undo", run.path, "--yes"])
        #expect(undo.status != 0, "\(undo.stderr)")
        let undoSaid = undo.stderr + undo.stdout
        #expect(
            undoSaid.contains("undo of items failed while preparing the undo: \(said): an undo writes")
                && !undoSaid.contains("preparing the input"), "\(undoSaid)")
        #expect(
            try await fixture.server.execute("SELECT * FROM items ORDER BY id", conninfo: fixture.conninfo).rows
                == [[.int(1), .string("x")], [.int(2), .string("b")]])
    }

    /// What the role lacks is named, with the GRANT that gives it, by `check --connect` (located
    /// at the apply's table) and by the apply: they said ok, then "permission denied for table
    /// items" while preparing the input.
    @Test(arguments: [
        ("GRANT SELECT ON items TO {R}", "UPDATE on the whole table items", #"GRANT UPDATE ON "items" TO "{R}";"#),
        (
            "GRANT SELECT, UPDATE (name) ON items TO {R}", "UPDATE on the whole table items",
            #"GRANT UPDATE ON "items" TO "{R}";"#
        ),
        (
            "GRANT SELECT, UPDATE ON items TO {R}; REVOKE TEMPORARY ON DATABASE {D} FROM PUBLIC",
            "TEMPORARY on database {D}", #"GRANT TEMPORARY ON DATABASE "{D}" TO "{R}";"#
        ),
        (
            "GRANT SELECT (id), UPDATE ON items TO {R}", "SELECT on column(s) name",
            #"GRANT SELECT ("name") ON "items" TO "{R}";"#
        ),
        (
            "CREATE SCHEMA s; CREATE TABLE s.items (id int PRIMARY KEY, name text); GRANT SELECT, UPDATE ON s.items TO {R}",
            "USAGE on schema s", #"GRANT USAGE ON SCHEMA "s" TO "{R}";"#
        ),
    ])
    func aMissingPrivilegeIsNamedWithItsGrant(grants: String, lacks: String, grant: String) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        let role = TestPostgres.passwordRole
        let database = try #require(fixture.conninfo.split(separator: " ").first { $0.hasPrefix("dbname=") })
            .dropFirst(7).filter { $0 != "'" }
        let inSchema = grants.contains("CREATE SCHEMA")
        let table = inSchema ? "s.items" : "items"
        func named(_ text: String) -> String {
            text.replacingOccurrences(of: "{R}", with: role).replacingOccurrences(of: "{D}", with: String(database))
        }
        _ = try await fixture.server.execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'a'); " + named(grants),
            conninfo: fixture.conninfo)
        let plan = try await Self.tablePlan(table, columns: ["name"], in: fixture)
        let file = fixture.directory.appendingPathComponent("\(table).csv")
        try await Files.write(Array("id,name\n1,x\n".utf8), to: file)
        let expected = "role \(role) lacks what an apply of \(table) needs: \(named(lacks))"
        let checked = try await fixture.databaseOnly.run(["check", "--connect", plan.path])
        #expect(checked.status != 0, "\(checked.stdout)")
        #expect(
            checked.stderr.contains("\(plan.path):7:")
                && checked.stderr.contains("error: stages.apply.table: \(expected)")
                && checked.stderr.contains(named(grant)), "\(checked.stderr)\n\(checked.stdout)")
        let refused = try await fixture.databaseOnly.run([
            "apply", plan.path, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        let said = refused.stderr + refused.stdout
        #expect(refused.status == 1, "\(said)")
        #expect(said.contains(expected) && said.contains(named(grant)), "\(said)")
        // At the gate, before its review, the same.
        let gated = try await fixture.databaseOnly.run([
            "apply", plan.path, file.path, "--runs-dir", fixture.runsDirectory,
        ])
        let gatedSaid = gated.stderr + gated.stdout
        #expect(gated.status == 1, "\(gatedSaid)")
        #expect(gatedSaid.contains(expected) && gatedSaid.contains(named(grant)), "\(gatedSaid)")
    }

    /// A generated column the plan writes is refused, located at it in the plan, by an apply
    /// approved up front too: that one starts at once, without the check before the run, and
    /// said only the server's "column "dbl" can only be updated to DEFAULT".
    @Test func aGeneratedColumnIsRefusedLocatedWithYesToo() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE TABLE items (id int PRIMARY KEY, qty int, dbl int GENERATED ALWAYS AS (qty * 2) STORED);
            INSERT INTO items (id, qty) VALUES (1, 1);
            GRANT SELECT, UPDATE ON items TO \(TestPostgres.passwordRole)
            """, conninfo: fixture.conninfo)
        let plan = try await Self.tablePlan("items", columns: ["qty", "dbl"], in: fixture)
        let file = fixture.directory.appendingPathComponent("items.csv")
        try await Files.write(Array("id,qty,dbl\n1,5,7\n".utf8), to: file)
        let refused = try await fixture.databaseOnly.run([
            "apply", plan.path, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        let said = refused.stderr + refused.stdout
        #expect(refused.status == 1, "\(said)")
        #expect(
            said.contains("\(plan.path):7:")
                && said.contains(
                    "error: stages.apply.columns.dbl: column 'dbl' of items is generated: the database computes it, and it "
                        + "cannot be written; remove it from the apply's columns"),
            "\(said)")
        #expect(
            try await fixture.server.execute("SELECT qty FROM items", conninfo: fixture.conninfo).rows == [[.int(1)]])
    }

    /// A value a foreign key does not find, or one a unique column already holds, is located at
    /// its line and column like a CHECK's (they named no line, only the value).
    @Test func foreignKeyAndUniqueViolationsAreLocated() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE TABLE authors (id int PRIMARY KEY);
            INSERT INTO authors VALUES (1), (2);
            CREATE TABLE books (id int PRIMARY KEY, author int REFERENCES authors, code text UNIQUE);
            INSERT INTO books SELECT i, 1, 'c' || i FROM generate_series(1, 5) AS i;
            GRANT SELECT ON authors TO \(TestPostgres.passwordRole);
            GRANT SELECT, UPDATE ON books TO \(TestPostgres.passwordRole)
            """, conninfo: fixture.conninfo)
        let plan = try await Self.tablePlan("books", columns: ["author", "code"], in: fixture)
        let table = {
            try await fixture.server.execute("SELECT * FROM books ORDER BY id", conninfo: fixture.conninfo).rows
        }
        let before = try await table()
        for (name, text, located) in [
            (
                "author.csv", "id,author,code\n1,2,c1\n3,7,c3\n",
                ":3:3: error: column 'author': '7' for id 3 violates constraint \"books_author_fkey\""
            ),
            (
                "code.csv", "id,author,code\n1,2,c1\n2,1,c2\n4,1,c5\n",
                ":4:5: error: column 'code': 'c5' for id 4 violates constraint \"books_code_key\""
            ),
        ] {
            let file = fixture.directory.appendingPathComponent(name)
            try await Files.write(Array(text.utf8), to: file)
            let refused = try await fixture.databaseOnly.run([
                "apply", plan.path, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
            ])
            #expect(refused.status == 1, "\(name): \(refused.stderr)")
            #expect(refused.stderr.contains(file.path + located), "\(name): \(refused.stderr)")
            #expect(try await table() == before, "\(name)")
        }
    }

    /// A value with a UTC offset (`+05:00`, `Z`) for a `timestamp` without time zone column
    /// (also a domain over one, an array of them): PostgreSQL drops the offset and stores the time
    /// as written. The apply writes it so (it may be meant), and its review (at the gate, in
    /// review.csv's summary and the page) and the run's notices say how many, with an example
    /// and the fix. A `timestamptz` column takes the offset, and a value without one is no note.
    @Test func timestampsWithAnOffsetForAColumnWithoutTimeZoneAreNoted() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE DOMAIN moment AS timestamp;
            CREATE TABLE events (id int PRIMARY KEY, at moment, ats timestamp[], at_tz timestamptz);
            INSERT INTO events SELECT i FROM generate_series(1, 3) AS i;
            GRANT SELECT, UPDATE ON events TO \(TestPostgres.passwordRole)
            """, conninfo: fixture.conninfo)
        let plan = try await Self.tablePlan("events", columns: ["at", "ats", "at_tz"], in: fixture)
        let file = fixture.directory.appendingPathComponent("events.csv")
        try await Files.write(
            Array(
                """
                id,at,ats,at_tz
                1,2024-01-01T00:00:00+05:00,"{2024-01-02 00:00:00,2024-01-02 10:00:00Z}",2024-01-01T00:00:00+05:00
                2,2024-01-01 00:00:00 -0800,,
                3,2024-06-01T12:00:00,{2024-06-01 12:00:00},2024-06-01 12:00:00+02

                """.utf8), to: file)
        let notes = [
            "2 input values for at (timestamp without time zone) carry a UTC offset (e.g. "
                + "2024-01-01T00:00:00+05:00): PostgreSQL drops the offset and stores the time as written, not the "
                + "instant it meant; to keep instants, make the column timestamptz (ALTER TABLE events ALTER COLUMN "
                + "at TYPE timestamptz), or convert the values in a transform",
            "1 input value for ats (timestamp without time zone) carries a UTC offset (e.g. "
                + "2024-01-02 10:00:00Z)",
        ]
        let apply = ["apply", plan.path, file.path, "--runs-dir", fixture.runsDirectory]
        let gated = try await fixture.databaseOnly.run(apply)
        #expect(gated.status == 3, "\(gated.stderr)")
        let gate = try #require(await fixture.manifests().last)
        for note in notes {
            // At the gate, as the summary's note, and in the run's notices.
            #expect(gated.stdout.contains("  note: " + note), "\(gated.stdout)")
            #expect(gate.manifest.notices.contains { $0.hasPrefix("apply: " + note) }, "\(gate.manifest.notices)")
        }
        let offsets: Value = .array([
            .object(["column": "at", "values": 2, "example": "2024-01-01T00:00:00+05:00"]),
            .object(["column": "ats", "values": 1, "example": "2024-01-02 10:00:00Z"]),
        ])
        #expect(gate.manifest.stage("apply")?.review?.summary["offset_timestamps"] == offsets)
        let page = try #require(gate.manifest.stage("apply")?.review?.files.first { $0.kind == "review-html" })
        let html = try await Files.text(page.url(in: gate.directory))
        #expect(html.contains("<p class=\"offsets\">Note: \(notes[0]).</p>"), "\(html)")

        let applied = try await fixture.databaseOnly.run(apply + ["--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        let run = try #require(await fixture.manifests().last?.manifest)
        #expect(notes.allSatisfy { note in run.notices.contains { $0.hasPrefix("apply: " + note) } }, "\(run.notices)")
        // Reviewed in the apply's own transaction (--yes): the same summary.
        #expect(run.stage("apply")?.review?.summary["offset_timestamps"] == offsets)
        #expect(!run.notices.contains { $0.contains("at_tz") }, "\(run.notices)")
        // Written as PostgreSQL reads them: the offset dropped, not refused.
        let stored = try await fixture.server.execute(
            "SELECT at::text, ats::text FROM events ORDER BY id", conninfo: fixture.conninfo
        ).rows.map { $0.map(\.text) }
        #expect(
            stored == [
                ["2024-01-01 00:00:00", "{\"2024-01-02 00:00:00\",\"2024-01-02 10:00:00\"}"],
                ["2024-01-01 00:00:00", nil], ["2024-06-01 12:00:00", "{\"2024-06-01 12:00:00\"}"],
            ])

        try await Files.write(
            Array("id,at,ats,at_tz\n1,2024-02-01T00:00:00,{2024-02-01 00:00:00},2024-02-01 00:00:00+00\n".utf8),
            to: file)
        let plain = try await fixture.databaseOnly.run(apply + ["--yes"])
        #expect(plain.status == 0, "\(plain.stderr)")
        let plainRun = try #require(await fixture.manifests().last?.manifest)
        #expect(!plainRun.notices.contains { $0.contains("offset") }, "\(plainRun.notices)")
        #expect(!plain.stdout.contains("offset"), "\(plain.stdout)")
    }

    @Test func badCSVsGetLocatedErrorsExitOneAndLeaveEveryRowAsItWas() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let rows = try await fixture.reviewedRows()
        try #require(rows.count > 10)
        let crlf = { (rows: [[String]]) in Array(CSVText.lines(rows, end: "\r\n").utf8) }
        // Where a row's third field (spotify_popularity) and fourth (isrc) start.
        let popularityColumn = rows[1][0].count + rows[1][1].count + 3
        let isrcColumn = { (row: [String]) in popularityColumn + row[2].count + 1 }

        var abc = rows
        abc[5][2] = "abc"
        var duplicate = rows
        duplicate.append([rows[3][0], rows[3][1], String(((Int(rows[3][2]) ?? 0) + 1) % 101), rows[3][3]])
        var header = rows
        header[0][2] = "popularity"
        var latin1 = crlf(rows)
        let endOfLine3 = try #require(latin1.indices.filter { latin1[$0] == UInt8(ascii: "\n") }.dropFirst(2).first)
        latin1.insert(0xE9, at: endOfLine3 - 1)  // "é" in Latin-1, at the end of line 3's ISRC (before CR)
        var tooHigh = rows
        tooHigh[7][2] = "140"

        let cases = [
            BadCase(
                name: "abc.csv", bytes: crlf(abc), line: 6, column: popularityColumn,
                fragment: "column 'spotify_popularity': 'abc' is not an integer"),
            BadCase(
                name: "duplicate.csv", bytes: crlf(duplicate), line: rows.count + 1, column: 1,
                fragment: "is given different values here and on line 4"),
            BadCase(
                name: "unbalanced.csv", bytes: crlf(rows) + Array("\(rows[1][0]),\(rows[1][1]),1,\"US".utf8),
                line: rows.count + 1, column: isrcColumn(["", "", "1"]), fragment: "unbalanced quote"),
            BadCase(
                name: "header.csv", bytes: crlf(header), line: 1, column: 1,
                fragment: "the header lacks column 'spotify_popularity'"),
            BadCase(
                name: "latin1.csv", bytes: latin1, line: 3, column: isrcColumn(rows[2]) + rows[2][3].count,
                fragment: "invalid UTF-8"),
            // Let through validate, 140 meets the table's CHECK inside the transaction, which
            // rolls back; the error still names the line and column.
            BadCase(
                name: "check.csv", bytes: crlf(tooHigh), line: 8, column: popularityColumn,
                fragment: "column 'spotify_popularity': '140' for track_id \(rows[7][0]) violates constraint "
                    + "\"tracks_spotify_popularity_check\"",
                stage: "apply", extra: ["--set", "validate.rules.spotify_popularity.max=1000"]),
            // With mode: insert every key is one the table already has: refused inside the
            // transaction, before anything is written, and the lines holding them are named.
            BadCase(
                name: "insert.csv", bytes: crlf(rows), line: 2, column: 1,
                fragment: "track_id \(rows[1][0]) is already in table tracks (mode: insert adds new rows only",
                stage: "apply", extra: ["--set", "apply.mode=insert"]),
        ]

        var outcomes: [SluiceProcess.Outcome] = []
        // An insert adds rows, and tracks needs a title (NOT NULL, no default), which the plan
        // does not write: refused before the file is read into the table, saying why. With a
        // default for it, the insert case below gets as far as the keys the table already has.
        let valid = fixture.directory.appendingPathComponent("valid.csv")
        try await Files.write(crlf(rows), to: valid)
        // An insert needs INSERT, which the check before the run asks for before anything else.
        _ = try await fixture.server.execute(
            "GRANT INSERT ON tracks TO \(TestPostgres.passwordRole)", conninfo: fixture.conninfo)
        let inserting = try await fixture.databaseOnly.run([
            "apply", Self.plan, valid.path, "--runs-dir", fixture.runsDirectory, "--yes", "--set", "apply.mode=insert",
        ])
        outcomes.append(inserting)
        #expect(inserting.status == 1, "\(inserting.stderr)")
        #expect(
            inserting.stdout.contains("tracks needs a value in column 'title' (NOT NULL, no default)"),
            "\(inserting.stdout)")
        #expect(try await fixture.table() == before)
        _ = try await fixture.server.execute(
            "ALTER TABLE tracks ALTER COLUMN title SET DEFAULT ''", conninfo: fixture.conninfo)
        for bad in cases {
            let file = fixture.directory.appendingPathComponent(bad.name)
            try await Files.write(bad.bytes, to: file)
            let outcome = try await fixture.databaseOnly.run(
                ["apply", Self.plan, file.path, "--runs-dir", fixture.runsDirectory, "--yes"] + bad.extra)
            outcomes.append(outcome)
            #expect(outcome.status == 1, "\(bad.name): \(outcome.stderr)")
            let located = "\(file.path):\(bad.line):\(bad.column): error: "
            let lines = outcome.stderr.split(separator: "\n").map(String.init)
            #expect(
                lines.contains { $0.hasPrefix(located) && $0.contains(bad.fragment) },
                "\(bad.name): no line \(located)…\(bad.fragment)… in:\n\(outcome.stderr)")
            // Printed once, as found; the summary says where they are, and `runs show` has them all.
            #expect(lines.filter { $0.hasPrefix(located) }.count == 1, "\(bad.name): \(outcome.stderr)")
            #expect(!outcome.stdout.contains(located), "\(bad.name) repeats its problems:\n\(outcome.stdout)")
            #expect(outcome.stdout.contains("located above)"), "\(bad.name): \(outcome.stdout)")
            #expect(try await fixture.table() == before, "\(bad.name) changed the table")

            let run = try #require(await fixture.manifests().last)
            let shown = try await fixture.sluice.run(["runs", "show", run.directory.path])
            #expect(shown.stdout.contains(located), "\(bad.name): `runs show` lacks the problems:\n\(shown.stdout)")
            let manifest = run.manifest
            #expect(manifest.status == .failed, "\(bad.name)")
            #expect(manifest.error?.stage == bad.stage, "\(bad.name): \(manifest.error?.message ?? "")")
            #expect(manifest.error?.message.contains("nothing was changed") == true, "\(bad.name)")
            #expect(manifest.stage("apply")?.outputs.contains { $0.kind == "undo" } != true)
            if bad.stage == "csv-input" {
                // Approved up front, the apply streamed beside the file's check: the problem
                // stopped it before it locked or changed anything (its transaction rolled back).
                #expect(manifest.stage("apply")?.status == .cancelled, "\(bad.name)")
            }
            if bad.name == "abc.csv" {
                // Such a run has no review, and no rows recorded for a dry run to review: the
                // file is what to mend.
                let review = try await fixture.sluice.run(["review", run.directory.path])
                #expect(review.status == 1)
                #expect(
                    review.stderr.contains(
                        "it stopped before its apply had rows to review: mend \(file.path) and run "),
                    "\(review.stderr)")
                #expect(!review.stderr.contains("sluice replay"), "\(review.stderr)")
            }
        }
        // A path that is not a file to read says which it is.
        for (path, said) in [
            (fixture.directory.path, "a directory, not a CSV file"),
            (fixture.directory.appendingPathComponent("missing.csv").path, "no such file"),
        ] {
            let outcome = try await fixture.databaseOnly.run(["apply", Self.plan, path, "--yes"])
            #expect(outcome.status == 1)
            #expect(outcome.stderr.contains("\(path): error: \(said)"), "\(outcome.stderr)")
        }
        // Without --yes the whole file is checked before the gate: the apply never starts.
        let first = fixture.directory.appendingPathComponent(cases[0].name)
        let gated = try await fixture.databaseOnly.run([
            "apply", Self.plan, first.path, "--runs-dir", fixture.runsDirectory,
        ])
        outcomes.append(gated)
        #expect(gated.status == 1, "\(gated.stderr)")
        #expect(gated.stderr.contains("\(first.path):\(cases[0].line):\(cases[0].column): error: "), "\(gated.stderr)")
        let stopped = try #require(await fixture.manifests().last?.manifest)
        #expect(stopped.error?.stage == "csv-input")
        #expect(stopped.stage("apply")?.status == .pending)
        #expect(try await fixture.table() == before)
        // `resume` is for plan runs: on a failed CSV apply it says how to apply the file again
        // (as it was applied: without --yes), and never runs the plan (which would query and fetch).
        let runs = await fixture.manifests().count
        let resumed = try await fixture.databaseOnly.run([
            "resume", try await fixture.lastRunDirectory().path, "--runs-dir", fixture.runsDirectory,
        ])
        outcomes.append(resumed)
        #expect(resumed.status == 1, "\(resumed.stderr)")
        #expect(
            resumed.stderr.contains(
                "to continue, apply it again: sluice apply \(URL(fileURLWithPath: Self.plan).path) \(first.path) "
                    + "--runs-dir \(fixture.runsDirectory)\n"),
            "\(resumed.stderr)")
        #expect(await fixture.manifests().count == runs, "resume started a run")
        try await FaultChecks.expectNoSecrets(fixture, outputs: outcomes)
    }

    /// An input that reads otherwise at the approval than in the review (`now`), on a table
    /// that did not change: the summary says so, not that the table changed, as the error does.
    @Test func anInputThatReadsOtherwiseAtTheApprovalIsNotSaidToBeTheTablesChange() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 5)
        defer { Task { await fixture.tearDown() } }
        let id = try #require(try await fixture.table().keys.sorted().first)
        let csv = fixture.directory.appendingPathComponent("touched.csv")
        try await Files.write(Array("id,updated_at\n\(id),now\n".utf8), to: csv)
        let plan = fixture.directory.appendingPathComponent("touch.yaml")
        let text = """
            version: 1
            name: touch
            connections:
              db: { kind: postgres, url: "${DATABASE_URL}" }
            stages:
              - { kind: read-csv, path: \(csv.path) }
              - name: apply
                kind: apply
                requires_approval: true
                connection: db
                table: tracks
                key: id
                columns: { updated_at: {} }

            """
        try await Files.write(Array(text.utf8), to: plan)
        let sluice = fixture.databaseOnly
        let stopped = try await sluice.run(["run", plan.path, "--runs-dir", fixture.runsDirectory])
        #expect(stopped.status == 3, "\(stopped.stderr)\n\(stopped.stdout)")
        let before = try await fixture.table()
        try await Task.sleep(for: .milliseconds(20))
        let refused = try await sluice.run([
            "replay", try await fixture.lastRunDirectory().path, "--from", "apply", "--yes",
        ])
        #expect(refused.status == 1, "\(refused.stderr)\n\(refused.stdout)")
        #expect(refused.stdout.contains(BulkUpdateError.inputDriftPhrase), "\(refused.stdout)")
        #expect(
            refused.stdout.contains(
                "the input reads as other values than in the review, on a table that did not change: to review the "
                    + "same rows as they read now, then apply them:\n  sluice apply "), "\(refused.stdout)")
        #expect(!refused.stdout.contains("the table changed since the review"), "\(refused.stdout)")
        #expect(try await fixture.table() == before)
    }
}

/// CSV text for the tests (the audit trail's values need no quoting).
enum CSVText {
    static func lines(_ rows: [[String]], end: String) -> String {
        rows.map { $0.joined(separator: ",") + end }.joined()
    }
}

extension EnrichmentFixture {
    /// The fixture's `sluice` with only the database's environment: apply needs no Spotify credentials.
    var databaseOnly: SluiceProcess {
        var sluice = self.sluice
        for name in ["SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "SPOTIFY_API_URL", "SPOTIFY_TOKEN_URL"] {
            sluice.environment[name] = nil
        }
        return sluice
    }

    /// ``reviewedCSV()`` applied, approved up front (`sluice apply PLAN FILE --yes`): the table
    /// before, and the run's directory.
    func applyReviewedCSV() async throws -> (before: [String: [String?]], run: URL) {
        let file = try await reviewedCSV()
        let before = try await table()
        let applied = try await databaseOnly.run([
            "apply", ApplyCommandTests.plan, file.path, "--runs-dir", runsDirectory, "--yes",
        ])
        #expect(applied.status == 0, "\(applied.stderr)")
        return (before, try await lastRunDirectory())
    }

    /// ``reviewedRows()`` written to `reviewed.csv` in the fixture's directory (`\n` line ends),
    /// for `sluice apply`.
    func reviewedCSV() async throws -> URL {
        try await reviewedCSVWithRows().file
    }

    /// ``reviewedCSV()``, with the rows it holds as cells, header first.
    func reviewedCSVWithRows() async throws -> (file: URL, rows: [[String]]) {
        let rows = try await reviewedRows()
        let file = directory.appendingPathComponent("reviewed.csv")
        try await Files.write(Array(CSVText.lines(rows, end: "\n").utf8), to: file)
        return (file, rows)
    }

    /// Runs the plan up to its approval gate and returns the audit trail it wrote, header first,
    /// as cells (the table is untouched).
    func reviewedRows() async throws -> [[String]] {
        let stopped = try await run()
        #expect(stopped.status == 3, "\(stopped.stderr)")
        let (directory, manifest) = try #require(await manifests().last)
        return try await auditRows(of: manifest, in: directory)
    }

    /// The audit trail the run `manifest` (in `directory`) wrote, header first, as cells.
    func auditRows(of manifest: Manifest, in directory: URL) async throws -> [[String]] {
        let csv = try #require(manifest.stage("write-csv")?.outputs.first { $0.kind == "csv" })
        let url = csv.path.hasPrefix("/") ? URL(fileURLWithPath: csv.path) : directory.appendingPathComponent(csv.path)
        let text = try await Files.text(url)
        let rows = text.split(separator: "\r\n").map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        #expect(rows.first == ["track_id", "spotify_id", "spotify_popularity", "isrc"])
        #expect(rows.allSatisfy { $0.count == 4 } && !text.contains("\""))
        return rows
    }
}
