import Foundation
import SluiceApply
import SluiceCore
import SluicePipeline
import SluiceTestSupport
import SpotifySimulator
import Testing

/// `plans/spotify-enrichment.yaml`, run by the real `sluice` binary against a throwaway
/// PostgreSQL and the simulator over HTTP.
@Suite(.serialized)
struct SpotifyPlanTests {
    @Test func approvedRunEnrichesEveryKnownTrackAndLeavesEverythingElseAlone() async throws {
        let fixture = try await EnrichmentFixture.make()
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        let outcome = try await fixture.run(["--yes"])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)\nstdout: \(outcome.stdout)")

        try await expectEnriched(fixture, before: before)
        let (directory, manifest) = try #require(await fixture.manifests().last)
        #expect(manifest.status == .succeeded)
        #expect(manifest.stages.map(\.status) == Array(repeating: .succeeded, count: 8))
        // Approved up front, the apply reviewed inside its transaction: recorded, shown, and its
        // cells are the changes it made.
        let review = try #require(manifest.stage("apply")?.review)
        #expect(outcome.stdout.contains("review (apply): "), "\(outcome.stdout)")
        #expect(await Files.exists(directory.appendingPathComponent("review.html")))
        #expect(
            ReviewSummary(json: review.summary)?.changedRows
                == manifest.stage("apply")?.counters["changed"])
        // The review says what would change; the summary then says that it did.
        let changed = try #require(manifest.stage("apply")?.counters["changed"])
        #expect(outcome.stdout.contains("\n  applied and committed: \(changed) rows changed\n"), "\(outcome.stdout)")
        // The stage table shows no "out 0" for the stages that pass no rows on.
        let table = outcome.stdout.split(separator: "\n").map { $0.split(separator: " ") }
        let ends = table.filter { $0.count == 7 && ["apply", "verify"].contains($0[1]) }
        #expect(ends.map { $0[4] } == ["-", "-"], "\(outcome.stdout)")

        // The CSV audit trail: the columns the job asks for, and the manifest's rows and sha256.
        let csv = try #require(manifest.stage("write-csv")?.outputs.first { $0.kind == "csv" })
        let csvURL =
            csv.path.hasPrefix("/") ? URL(fileURLWithPath: csv.path) : directory.appendingPathComponent(csv.path)
        let bytes = try await Files.bytes(csvURL)
        #expect(SHA256.hex(bytes) == csv.sha256)
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\r\n")
        #expect(lines.first == "track_id,spotify_id,spotify_popularity,isrc")
        #expect(lines.count - 1 == csv.rows)
        #expect(csvURL.lastPathComponent.hasPrefix("spotify_enrichment_"))

        // Rows Spotify does not know and ids that are still malformed are rejected, with a reason.
        let unenrichable = fixture.dataset.tracks.filter { $0.spotifyID != nil && !fixture.dataset.isKnown($0) }
        let rejected = manifest.stages.reduce(0) { $0 + $1.rowsRejected }
        #expect(rejected == unenrichable.count)
        #expect(csv.rows == fixture.dataset.tracks.filter { $0.spotifyID != nil }.count - unenrichable.count)
        #expect(manifest.stage("verify")?.status == .succeeded)

        // Someone corrects one enriched row's ISRC afterwards: `sluice undo` restores every other
        // row and that row's popularity, leaves its ISRC as it is, naming it, and says it is not
        // complete (exit 6).
        let enriched = try await fixture.table()
        let corrected = try #require(before.keys.sorted().first { before[$0]?.first != enriched[$0]?.first })
        _ = try await fixture.server.execute(
            "UPDATE tracks SET isrc = 'FIXEDBYHAND' WHERE id = $1", [.string(corrected)], conninfo: fixture.conninfo)
        let misspelt = try await fixture.sluice.run(["undo", directory.path, "--stage", "aply", "--yes"])
        #expect(misspelt.status == 64, "\(misspelt.stderr)")
        #expect(misspelt.stderr.contains("has no apply stage 'aply' (it has: apply); did you mean 'apply'?"))
        // A dry run says what the undo would do and exits as it would (6), changing nothing.
        let corrections = try await fixture.table()
        let dry = try await fixture.sluice.run(["undo", directory.path, "--dry-run"])
        #expect(dry.status == 6, "stderr: \(dry.stderr)")
        let restorable = before.keys.filter { $0 != corrected && before[$0] != enriched[$0] }.count
        #expect(
            dry.stdout.contains(
                "(dry run, rolled back: nothing changed): would restore \(restorable) (and 1 in part) of"),
            "\(dry.stdout)")
        #expect(dry.stdout.contains("not undone: 1 row has cells changed after the apply"), "\(dry.stdout)")
        #expect(dry.stdout.contains("would be left as they are"), "\(dry.stdout)")
        #expect(try await fixture.table() == corrections)
        let notUndone = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(!notUndone.stdout.contains("undone"), "\(notUndone.stdout)")
        let undone = try await fixture.sluice.run(["undo", directory.path, "--yes"])
        #expect(undone.status == 6, "stderr: \(undone.stderr)")
        #expect(undone.stdout.contains("not undone: 1 row has cells changed after the apply"), "\(undone.stdout)")
        #expect(undone.stdout.contains(corrected), "\(undone.stdout)")
        #expect(undone.stdout.contains("; its other cells were restored;"), "\(undone.stdout)")
        let undoneTable = try await fixture.table()
        #expect(undoneTable[corrected]?.prefix(2) == [before[corrected]?.first ?? nil, "FIXEDBYHAND"])
        #expect(before.filter { $0.key != corrected } == undoneTable.filter { $0.key != corrected })
        let partly = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(partly.stdout.contains("succeeded, partly undone"), "\(partly.stdout)")
        // `runs show` counts the row as `sluice undo` did: restored in part, not restored.
        let shownPartly = try await fixture.sluice.run(["runs", "show", directory.path])
        #expect(
            shownPartly.stdout.contains(
                ": restored \(restorable) rows (and 1 in part), left the cells changed since in 1 row"),
            "\(shownPartly.stdout)")

        // Once the row holds what the apply wrote again, a second undo restores it: complete.
        _ = try await fixture.server.execute(
            "UPDATE tracks SET spotify_popularity = $2::int, isrc = $3 WHERE id = $1",
            [.string(corrected)] + [0, 1].map { ((enriched[corrected] ?? [])[$0]).map(Value.string) ?? .null },
            conninfo: fixture.conninfo)
        let dryAgain = try await fixture.sluice.run(["undo", directory.path, "--dry-run"])
        #expect(dryAgain.status == 0, "stdout: \(dryAgain.stdout) stderr: \(dryAgain.stderr)")
        #expect(dryAgain.stdout.contains("would restore 1 of"), "\(dryAgain.stdout)")
        let again = try await fixture.sluice.run(["undo", directory.path, "--yes"])
        #expect(again.status == 0, "stdout: \(again.stdout) stderr: \(again.stderr)")
        #expect(try await fixture.table() == before)
        let complete = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(complete.stdout.contains("succeeded, undone"), "\(complete.stdout)")

        try await expectNoSecrets(in: fixture, outputs: [outcome, undone, again])
    }

    @Test func withoutApprovalTheRunStopsBeforeApplyAndItsReplayCommandFinishesTheJob() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 200)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        let stopped = try await fixture.run()
        #expect(stopped.status == 3, "stderr: \(stopped.stderr)")
        #expect(try await fixture.table() == before)
        let (directory, manifest) = try #require(await fixture.manifests().last)
        #expect(manifest.status == .awaitingApproval)
        let command = try #require(manifest.resumeCommand)
        #expect(command.contains("--from apply --yes"))
        #expect(stopped.stdout.contains(command))

        // What the user types next: apply and verify, from the recorded CSV rows, without fetching.
        let requestsBefore = fixture.simulator.stats().apiRequests
        // Without the Spotify credentials: applying needs only the database.
        var databaseOnly = fixture.sluice
        for name in ["SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "SPOTIFY_API_URL", "SPOTIFY_TOKEN_URL"] {
            databaseOnly.environment[name] = nil
        }
        // The reviewer edited the CSV: replay applies the recorded rows, so it refuses and says
        // how to apply the edited file instead.
        let csv = try #require(manifest.stage("write-csv")?.outputs.first { $0.kind == "csv" })
        let csvURL =
            csv.path.hasPrefix("/") ? URL(fileURLWithPath: csv.path) : directory.appendingPathComponent(csv.path)
        let reviewed = try await Files.bytes(csvURL)
        try await Files.write(reviewed + Array("\r\n".utf8), to: csvURL)
        let refused = try await databaseOnly.run(["replay", directory.path, "--from", "apply", "--yes"])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("was changed after run \(manifest.runID) wrote it"), "\(refused.stderr)")
        #expect(
            refused.stderr.contains("sluice apply \(SluiceProcess.recorded("plans/spotify-enrichment.yaml"))"),
            "\(refused.stderr)")
        #expect(try await fixture.table() == before)
        try await Files.write(reviewed, to: csvURL)
        // The review file moved away: the approval, held to it, is refused naming it and how to
        // go on, instead of failing as it opens the file.
        let reviewFile = directory.appendingPathComponent("review.csv")
        let moved = directory.appendingPathComponent("review.csv.moved")
        try await BlockingIO.runOnOwnThread { try FileManager.default.moveItem(at: reviewFile, to: moved) }
        let missing = try await databaseOnly.run(["replay", directory.path, "--from", "apply", "--yes"])
        try await BlockingIO.runOnOwnThread { try FileManager.default.moveItem(at: moved, to: reviewFile) }
        #expect(missing.status == 1, "\(missing.stderr)")
        #expect(
            missing.stderr.contains(
                "error: \(reviewFile.path), the review of stage 'apply' that approving run \(manifest.runID) applies, "
                    + "is gone (moved or deleted); put it back, or review anew: sluice run "), "\(missing.stderr)")
        #expect(try await fixture.table() == before)

        // A --stage replay stopped at the gate is continued as a --stage replay (not running verify).
        let gated = try await databaseOnly.run(["replay", directory.path, "--stage", "apply"])
        #expect(gated.status == 3, "\(gated.stderr)")
        #expect(gated.stdout.contains("--stage apply --yes") && !gated.stdout.contains("--from"), "\(gated.stdout)")
        #expect(try await fixture.table() == before)

        let applied = try await databaseOnly.run(["replay", directory.path, "--from", "apply", "--yes"])
        #expect(applied.status == 0, "stderr: \(applied.stderr)")
        #expect(fixture.simulator.stats().apiRequests == requestsBefore)
        try await expectEnriched(fixture, before: before)
        let replay = try #require(await fixture.manifests().last?.manifest)
        #expect(replay.replayOf?.runID == manifest.runID)
        #expect(replay.stage("fetch")?.status == .skipped)
        // The summary shows no time for the stages this run skipped (the manifest keeps the
        // original run's there).
        let fetchRow = try #require(applied.stdout.split(separator: "\n").first { $0.hasPrefix("  fetch ") })
        #expect(fetchRow.split(separator: " ").suffix(4) == ["-", "-", "-", "-"], "\(applied.stdout)")
        #expect((replay.stage("apply")?.counters["changed"] ?? 0) > 0)
        // `sluice runs` counts the rows the replayed apply read, not the 0 rows it output. A run
        // directory whose manifest does not read is named on stderr, not silently left out; one
        // without a manifest is not a run.
        let runs = URL(fileURLWithPath: fixture.runsDirectory)
        let broken = runs.appendingPathComponent("20990101-000000-zzzzzz")
        try await BlockingIO.runOnOwnThread {
            try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(
                at: runs.appendingPathComponent("notes"), withIntermediateDirectories: true)
            try Data("{garbage".utf8).write(to: broken.appendingPathComponent("manifest.json"))
        }
        let listed = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(listed.status == 0)
        #expect(
            listed.stderr.contains("warning: \(broken.path)/manifest.json: not a Sluice run manifest"),
            "\(listed.stderr)")
        #expect(!listed.stderr.contains("notes"), "\(listed.stderr)")
        try await Files.remove(broken)
        let line = try #require(
            listed.stdout.split(separator: "\n").first { $0.hasPrefix(replay.runID) }, "\(listed.stdout)")
        let applyRows = try #require(replay.stage("apply")?.rowsIn)
        // Its command, then after its rows the run it replays: the columns before line up.
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        #expect(fields.prefix(3) == [Substring(replay.runID), "spotify-enrichment", "replay"], "\(line)")
        #expect(applyRows > 0, "\(line)")
        #expect(fields.suffix(4) == ["\(applyRows)", "replay", "of", Substring(manifest.runID)], "\(line)")
        let header = try #require(listed.stdout.split(separator: "\n").first)
        #expect(
            header.split(separator: " ", omittingEmptySubsequences: true)
                == ["run", "plan", "command", "status", "started", "duration", "rows", "link"], "\(header)")

        // Applying the same rows again changes nothing.
        // A bare run id is looked up in the runs directory.
        let again = try await fixture.sluice.run(
            ["replay", manifest.runID, "--runs-dir", fixture.runsDirectory, "--stage", "apply", "--yes"])
        #expect(again.status == 0, "stderr: \(again.stderr)")
        #expect(await fixture.manifests().last?.manifest.stage("apply")?.counters["changed"] == 0)
        // The nightly run without --yes, once the table is enriched: nothing to approve, so it
        // does not stop at the gate (exit 3 would say changes wait for a person).
        let nightly = try await fixture.run()
        #expect(nightly.status == 0, "stderr: \(nightly.stderr)")
        let quiet = try #require(await fixture.manifests().last?.manifest)
        #expect(quiet.status == .succeeded && quiet.stage("apply")?.counters["changed"] == 0)
        #expect(quiet.notices.contains { $0.contains("there is nothing to approve") }, "\(quiet.notices)")
        try await expectNoSecrets(in: fixture, outputs: [stopped, refused, gated, applied, again, nightly])
    }

    /// A side table an upsert or an insert could not add rows to (no unique key for the upsert
    /// to find conflicts on, a NOT NULL column the apply does not write) fails the run before it
    /// starts, as a missing column does: not one request is spent.
    @Test(arguments: [
        (
            "upsert", "CREATE TABLE side (id uuid, spotify_popularity int, isrc text)",
            "stages.apply.key: side needs a primary key or unique constraint on id alone for mode: upsert"
        ),
        (
            "insert", "CREATE TABLE side (id uuid PRIMARY KEY, spotify_popularity int, isrc text, must text NOT NULL)",
            "stages.apply.mode: mode: insert adds rows holding only id and the columns this apply writes, but side "
                + "needs a value in column 'must'"
        ),
    ])
    func aSideTableThatCannotTakeTheAddedRowsFailsBeforeAnythingIsFetched(
        mode: String, table: String, expected: String
    ) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            table + "; GRANT SELECT, INSERT, UPDATE ON side TO \(TestPostgres.passwordRole)", conninfo: fixture.conninfo
        )
        let failed = try await fixture.run(["--yes", "--set", "apply.table=side", "--set", "apply.mode=\(mode)"])
        #expect(failed.status == 1, "\(failed.stderr)")
        let said = failed.stdout + failed.stderr
        #expect(said.contains(expected), "\(said)")
        #expect(said.contains("(checked before the run started: nothing ran)"), "\(said)")
        #expect(fixture.simulator.stats().apiRequests == 0)
        let checked = try await fixture.sluice.run([
            "check", "--connect", "plans/spotify-enrichment.yaml", "--set", "apply.table=side", "--set",
            "apply.mode=\(mode)",
        ])
        #expect(checked.status != 0, "\(checked.stdout)")
        #expect((checked.stdout + checked.stderr).contains(expected), "\(checked.stdout + checked.stderr)")
    }

    /// A table the apply cannot write (a column renamed) fails the run before it starts: not
    /// one request is spent on answers it could not apply.
    @Test func aColumnTheApplyNeedsIsMissingBeforeAnythingIsFetched() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 50)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            "ALTER TABLE tracks RENAME COLUMN isrc TO isrc_code", conninfo: fixture.conninfo)
        let failed = try await fixture.run(["--yes"])
        #expect(failed.status == 1, "\(failed.stderr)")
        let said = failed.stdout + failed.stderr
        #expect(said.contains("table tracks has no column 'isrc' (it has: "), "\(said)")
        #expect(said.contains("checked before the run started"), "\(said)")
        // Located where the plan names the column, as a guard-rail is.
        #expect(
            said.contains("plans/spotify-enrichment.yaml:101:13: error: stages.apply.columns.isrc: table tracks"),
            "\(said)")
        #expect(fixture.simulator.stats().apiRequests == 0)
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.stage("apply")?.status == .failed)
        #expect(manifest.stage("fetch")?.status == .pending)

        // `sluice apply`, whose apply starts at once, says it the same way.
        let csv = fixture.directory.appendingPathComponent("one.csv")
        let id = try #require(fixture.dataset.tracks.first?.id)
        try await Files.write(Array("track_id,spotify_popularity,isrc\n\(id),50,USUM71703861\n".utf8), to: csv)
        let applied = try await fixture.databaseOnly.run([
            "apply", "plans/spotify-enrichment.yaml", csv.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(applied.status == 1, "\(applied.stderr)")
        let told = applied.stdout + applied.stderr
        #expect(told.contains("table tracks has no column 'isrc' (it has: "), "\(told)")
        // Checked before the run starts, as its verify is: the apply's missing column is named
        // first, not the verify query that reads it.
        #expect(told.contains("checked before the run started"), "\(told)")
        #expect(!told.contains("stages.verify.checks"), "\(told)")
    }

    /// docs/cli.md's example: approving a review with `--set` that changes what the apply writes
    /// (an ISRC the answer lacks kept instead of cleared). The review no longer shows what it
    /// would do, so it is reviewed anew and applied as set, saying so (it used to fail,
    /// reporting every such row as changed since the review); `on_drift` alone keeps it held.
    @Test func aReplayWhoseSetChangesTheApplyIsReviewedAnew() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 200)
        defer { Task { await fixture.tearDown() } }
        // Tracks Spotify knows without an ISRC hold one the enrichment would clear.
        let cleared = fixture.dataset.tracks.filter {
            fixture.dataset.isKnown($0) && fixture.dataset.expected($0).isrc == nil
        }
        try #require(!cleared.isEmpty, "the dataset has known tracks without an ISRC")
        for track in cleared {
            _ = try await fixture.server.execute(
                "UPDATE tracks SET isrc = 'GBAAA0000001' WHERE id = '\(track.id)'", conninfo: fixture.conninfo)
        }
        let before = try await fixture.table()
        let stopped = try await fixture.run()
        #expect(stopped.status == 3, "stderr: \(stopped.stderr)")
        let directory = try await fixture.lastRunDirectory()

        let kept = try await fixture.databaseOnly.run([
            "replay", directory.path, "--from", "apply", "--yes", "--set", "apply.columns.isrc.on_empty=keep",
            "--set", "chunk.size=7",
        ])
        #expect(kept.status == 0, "\(kept.stderr)\n\(kept.stdout)")
        #expect(kept.stdout.contains("stage 'apply' is reviewed anew"), "\(kept.stdout)")
        // The chunk does not run in a replay from apply: its --set is said to change nothing.
        #expect(
            kept.stderr.contains(
                "warning: --set chunk.size=... is for stage 'chunk', which this replay does not run (it replays "
                    + "from 'apply'): it changes nothing here"), "\(kept.stderr)")
        #expect(!kept.stderr.contains("--set apply.columns"), "\(kept.stderr)")
        let after = try await fixture.table()
        for track in fixture.dataset.tracks {
            let expected = fixture.dataset.expected(track)
            #expect(after[track.id]?[1] == expected.isrc ?? before[track.id]?[1], "\(track.kind)")
        }
    }

    /// A field read from a misspelt key (`external_ids.isrcc`) is empty in every row; approved up
    /// front, the apply would clear every ISRC. The run stops at the transform instead, changing
    /// nothing, and `sluice resume` with the key set right goes on from the answers kept.
    @Test func aMisspeltKeyStopsTheRunBeforeItsApplyClearsTheColumn() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 60)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let misspelt = try await fixture.run([
            "--yes", "--set", "transform.fields.isrc=upper(response.external_ids.isrcc)",
        ])
        #expect(misspelt.status == 1, "\(misspelt.stderr)")
        let said = misspelt.stdout + misspelt.stderr
        #expect(said.contains("no row's response.external_ids has a key 'isrcc'; did you mean 'isrc'?"), "\(said)")
        #expect(try await fixture.table() == before)
        let asked = fixture.simulator.stats().apiRequests
        let directory = try await fixture.lastRunDirectory()
        let resumed = try await fixture.sluice.run([
            "resume", directory.path, "--yes", "--set", "transform.fields.isrc=upper(response.external_ids.isrc)",
        ])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(fixture.simulator.stats().apiRequests == asked, "the resume reused the answers")
        try await FaultChecks.expectEnriched(fixture, before: before)
    }

    @Test(arguments: [Int32(SIGINT), SIGKILL])
    func anInterruptedRunResumedEndsLikeAnUninterruptedOneWithoutAskingAgain(signal: Int32) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1000)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        let (process, out, _) = try fixture.sluice.start(
            [
                "run", "plans/spotify-enrichment.yaml", "--runs-dir", fixture.runsDirectory, "--yes",
                "--set", "fetch.delay=0.25s",
            ])
        // Interrupt once fetch has had a few answers.
        let deadline = ContinuousClock.now + .seconds(60)
        while fixture.simulator.stats().apiRequests < 4 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(process.processIdentifier, signal)
        await SluiceProcess.wait(for: process)
        let (directory, interrupted) = try #require(await fixture.manifests().last)
        if signal == SIGINT {
            let said = (try? await Files.text(out)) ?? ""
            #expect(process.terminationStatus == 130, "\(said)")
            #expect(interrupted.status == .interrupted)
            // The summary and the manifest say how to continue.
            #expect(interrupted.resumeCommand == "sluice resume \(directory.path) --yes")
            #expect(said.contains("continue later with:\n  sluice resume"), "\(said)")
        }
        #expect(try await fixture.table() == before)
        // What a process leaves half-done when it cannot finish: the audit CSV it was writing, the
        // space it held back for its manifest. The resume clears them away.
        let leftovers = {
            try await BlockingIO.runOnOwnThread {
                try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix(".") }
            }
        }
        if signal == SIGKILL {
            let left = try await leftovers()
            #expect(left.contains(".manifest.reserve"), "\(left)")
            #expect(left.contains { $0.hasPrefix(".spotify_enrichment_") && $0.hasSuffix(".tmp") }, "\(left)")
        }
        let resumed = try await fixture.sluice.run(["resume", directory.path, "--yes", "--set", "fetch.delay=0.01s"])
        #expect(resumed.status == 0, "stderr: \(resumed.stderr)")
        #expect(try await leftovers().isEmpty, "\(resumed.stderr)")
        try await expectEnriched(fixture, before: before)
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.replayOf?.runID == interrupted.runID)
        let fetch = try #require(manifest.stage("fetch"))
        #expect(fetch.counters["reused_answers", default: 0] >= 50)

        // The list says which run went on from the interrupted one.
        let listed = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        let line = try #require(listed.stdout.split(separator: "\n").first { $0.hasPrefix(interrupted.runID) })
        #expect(line.hasSuffix("  continued by \(manifest.runID)"), "\(listed.stdout)")
        // ... and lists that run as the resume it was, not as a replay.
        #expect(manifest.replayOf?.resumed == true)
        let resumeLine = try #require(listed.stdout.split(separator: "\n").first { $0.hasPrefix(manifest.runID) })
        #expect(
            resumeLine.contains("  resume  ") && resumeLine.hasSuffix("  resume of \(interrupted.runID)"),
            "\(listed.stdout)")
        // Shown, it says so instead of how to continue it again.
        let shown = try await fixture.sluice.run(["runs", "show", directory.path])
        #expect(shown.stdout.contains("continued by run \(manifest.runID)"), "\(shown.stdout)")
        #expect(!shown.stdout.contains("sluice resume"), "\(shown.stdout)")

        // Resumed once already, and that resume finished the job: nothing is asked or applied again.
        let asked = fixture.simulator.stats().apiRequests
        let runs = await fixture.manifests().count
        let twice = try await fixture.sluice.run(["resume", directory.path, "--yes"])
        #expect(twice.status == 0, "\(twice.stderr)")
        #expect(
            twice.stderr.contains(
                "note: run \(manifest.runID) already continued run \(interrupted.runID) and succeeded: there is nothing "
                    + "to resume"), "\(twice.stderr)")
        #expect(await fixture.manifests().count == runs)
        #expect(fixture.simulator.stats().apiRequests == asked)

        // Together the two runs asked the API at most one batch's requests (the one in flight,
        // with its narrowing of a malformed id) more than a single uninterrupted run does.
        let askedAfter = fixture.simulator.stats().apiRequests
        let fresh = try await fixture.run(["--yes"])
        #expect(fresh.status == 0)
        let full = try #require(await fixture.manifests().last?.manifest.stage("fetch")?.counters["requests"])
        #expect(askedAfter <= full + 13, "interrupted + resumed asked \(askedAfter), one run asks \(full)")
    }

    /// A run resumed once whose resume stopped too is resumed as that resume, which holds the
    /// answers of both: resuming the first run again asked the API anew for everything the resume
    /// had fetched, and left a second review of the same rows beside one waiting for approval.
    @Test func resumingARunAgainContinuesItsLatestResume() async throws {
        // Sixteen batches at a quarter of a second: the resume still has seconds of requests
        // ahead when it is interrupted, not the last one or two.
        let fixture = try await EnrichmentFixture.make(tracks: 800)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let slow = ["--set", "fetch.delay=0.25s"]
        /// Starts `arguments`, and interrupts it once the API has had `requests` requests in all.
        func interrupted(_ arguments: [String], after requests: Int) async throws -> (URL, Manifest) {
            let (process, out, err) = try fixture.sluice.start(arguments)
            defer { FaultChecks.stop(process) }
            try await FaultChecks.eventually("\(requests) requests", within: .seconds(60)) {
                fixture.simulator.stats().apiRequests >= requests
            }
            kill(process.processIdentifier, SIGINT)
            let outcome = await FaultChecks.finish(process, out, err, within: .seconds(60))
            #expect(outcome.status == 130, "\(outcome.stderr)")
            let last = try #require(await fixture.manifests().last)
            #expect(last.manifest.status == .interrupted)
            return last
        }
        let (first, original) = try await interrupted(
            ["run", "plans/spotify-enrichment.yaml", "--runs-dir", fixture.runsDirectory] + slow, after: 2)
        let (_, resume) = try await interrupted(
            ["resume", first.path] + slow, after: fixture.simulator.stats().apiRequests + 3)
        #expect(resume.replayOf?.runID == original.runID)
        let resumeReused = try #require(resume.stage("fetch")?.counters["reused_answers"])

        // Resumed again from the first run: the resume's answers are reused, and it waits at the gate.
        let again = try await fixture.sluice.run(["resume", first.path, "--set", "fetch.delay=0.01s"])
        #expect(again.status == 3, "\(again.stderr)")
        #expect(
            again.stderr.contains(
                "note: run \(resume.runID) already continued run \(original.runID) (interrupted); resuming run "
                    + "\(resume.runID), which holds the answers of both"), "\(again.stderr)")
        let (gate, waiting) = try #require(await fixture.manifests().last)
        #expect(waiting.status == .awaitingApproval)
        #expect(waiting.replayOf?.runID == resume.runID)
        let reused = try #require(waiting.stage("fetch")?.counters["reused_answers"])
        #expect(reused > resumeReused, "the first run's answers and the resume's: \(reused)")

        // And once more: the run at the gate is named with its approval; nothing is asked or run.
        let asked = fixture.simulator.stats().apiRequests
        let runs = await fixture.manifests().count
        let third = try await fixture.sluice.run(["resume", first.path])
        #expect(third.status == 3, "\(third.stderr)")
        #expect(
            third.stderr.contains("note: run \(waiting.runID) stopped at a gate and waits for approval; to go on: "),
            "\(third.stderr)")
        #expect(fixture.simulator.stats().apiRequests == asked)
        #expect(await fixture.manifests().count == runs)
        #expect(try await fixture.table() == before)
        let approved = try await fixture.sluice.run(["replay", gate.path, "--from", "apply", "--yes"])
        #expect(approved.status == 0, "\(approved.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
    }

    @Test func developmentModeStillFillsISRCsAndExplainsTheMissingPopularity() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120) { $0.developmentMode = true }
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        let outcome = try await fixture.run(["--yes"])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        let after = try await fixture.table()
        for track in fixture.dataset.tracks {
            let expected = fixture.dataset.expected(track)
            // Popularity: Development Mode cannot say, so the table keeps what it had.
            #expect(after[track.id]?[0] == track.popularity.map(String.init), "\(track.kind)")
            #expect(after[track.id]?[1] == expected.isrc, "\(track.kind)")
            #expect(after[track.id]?[2...] == before[track.id]?[2...])
        }
        #expect(outcome.stdout.contains("Development Mode"))
        #expect(outcome.stdout.lowercased().contains("popularity"))
    }

    // MARK: Checks

    /// Every track Spotify knows holds the catalog's values; every other row, and every other
    /// column, is exactly as before.
    func expectEnriched(_ fixture: EnrichmentFixture, before: [String: [String?]]) async throws {
        let after = try await fixture.table()
        #expect(after.count == before.count)
        for track in fixture.dataset.tracks {
            let row = try #require(after[track.id])
            let expected = fixture.dataset.expected(track)
            #expect(row[0] == expected.popularity.map(String.init), "\(track.kind) \(track.spotifyID ?? "nil")")
            #expect(row[1] == expected.isrc, "\(track.kind) \(track.spotifyID ?? "nil")")
            #expect(row[2...] == before[track.id]?[2...], "title, artist and updated_at stay untouched")
        }
    }

    /// Neither the client secret nor the database password appears in any file of any run or
    /// in what sluice printed.
    func expectNoSecrets(in fixture: EnrichmentFixture, outputs: [SluiceProcess.Outcome]) async throws {
        let secrets = [EnrichmentFixture.clientSecret, TestPostgres.passwordRolePassword]
        let files = try await Files.everyFile(under: URL(fileURLWithPath: fixture.runsDirectory))
        #expect(!files.isEmpty)
        for (file, text, mode) in files {
            for secret in secrets { #expect(!text.contains(secret), "\(secret) in \(file.path)") }
            #expect(mode == 0o600, "\(file.lastPathComponent) is \(String(mode ?? 0, radix: 8))")
        }
        for output in outputs {
            for secret in secrets {
                #expect(!output.stdout.contains(secret))
                #expect(!output.stderr.contains(secret))
            }
        }
    }
}
