import Foundation
import SluiceCore
import SluicePipeline
import SluicePostgres
import SluiceTestSupport
import SpotifySimulator
import Testing

/// The database half of the fault matrix (issue 7): the real `sluice` binary runs
/// `plans/spotify-enrichment.yaml` against the throwaway PostgreSQL while the test breaks the
/// database under it. Every case checks the same four things: a clear final status and exit
/// code with a message naming the cause, the table either exactly as before or fully
/// enriched (every row compared), no secret anywhere sluice wrote or printed, and a re-run that
/// converges to the fully enriched table.
@Suite(.serialized)
struct DatabaseFaultTests {
    // MARK: Connecting

    @Test func wrongCredentialsFailFastNamingTheServerAndTheRoleButNeverThePassword() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let wrong = "not-the-pw-4711"
        var sluice = fixture.sluice
        sluice.environment["DATABASE_URL"] = fixture.server.tcpConninfo(
            database: fixture.databaseName, user: TestPostgres.passwordRole, password: wrong)

        let started = ContinuousClock.now
        let failed = try await sluice.run(fixture.runArguments(["--yes"]))
        #expect(ContinuousClock.now - started < .seconds(60), "a refused password must not hang")
        #expect(failed.status == 1, "\(failed.stderr)")
        let manifest = try await FaultChecks.expectFailed(
            fixture, failed, stage: "query",
            mentions: [
                "host=127.0.0.1", "port=\(fixture.server.port ?? 0)", "user=sluice_pw",
                "password authentication failed",
            ],
            secrets: [wrong])
        #expect(manifest.stage("fetch")?.status != .succeeded, "nothing after a failed query runs")
        #expect(try await fixture.table() == before)

        // With the right password, resuming the failed run finishes the job.
        let resumed = try await fixture.sluice.run(["resume", fixture.lastRunDirectory().path, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
        try await FaultChecks.expectNoSecrets(fixture, outputs: [failed, resumed], extra: [wrong])
    }

    @Test func aServerDownAtStartFailsWithinTheConnectTimeoutNamingHostAndPort() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let closed = try ClosedPort()
        let port = closed.port
        var sluice = fixture.sluice
        sluice.environment["DATABASE_URL"] =
            "postgresql://\(TestPostgres.passwordRole):\(TestPostgres.passwordRolePassword)@127.0.0.1:\(port)/\(fixture.databaseName)"

        let started = ContinuousClock.now
        let failed = try await sluice.run(
            fixture.runArguments(["--yes", "--set", "connections.db.connect_timeout=3s"]))
        #expect(ContinuousClock.now - started < .seconds(60))
        // Resumable (4): nothing needs fixing, the server only has to come back.
        #expect(failed.status == 4, "\(failed.stderr)")
        #expect(failed.stdout.contains("continue later with:\n  sluice resume "), "\(failed.stdout)")
        try await FaultChecks.expectFailed(
            fixture, failed, stage: "query", mentions: ["host=127.0.0.1", "port=\(port)", "refused"])
        #expect(try await fixture.table() == before)

        let resumed = try await fixture.sluice.run(["resume", fixture.lastRunDirectory().path, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
        try await FaultChecks.expectNoSecrets(fixture, outputs: [failed, resumed])
        withExtendedLifetime(closed) {}
    }

    @Test func aServerThatAcceptsButNeverAnswersIsGivenUpOnAfterTheConnectTimeout() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let silent = try SilentListener()
        var sluice = fixture.sluice
        sluice.environment["DATABASE_URL"] = try #require(
            fixture.server.tcpConninfo(
                database: fixture.databaseName, user: TestPostgres.passwordRole,
                password: TestPostgres.passwordRolePassword)
        ).replacingOccurrences(of: "port=\(fixture.server.port ?? 0)", with: "port=\(silent.port)")

        let started = ContinuousClock.now
        let failed = try await sluice.run(
            fixture.runArguments(["--yes", "--set", "connections.db.connect_timeout=2s"]))
        let took = ContinuousClock.now - started
        #expect(took >= .seconds(2), "gave up before the timeout: \(took)")
        #expect(took < .seconds(60), "the connect timeout did not bound the wait: \(took)")
        #expect(failed.status == 4, "\(failed.stderr)")
        try await FaultChecks.expectFailed(
            fixture, failed, stage: "query", mentions: ["host=127.0.0.1", "port=\(silent.port)", "timed out"])
        #expect(try await fixture.table() == before)
        withExtendedLifetime(silent) {}

        let resumed = try await fixture.sluice.run(["resume", fixture.lastRunDirectory().path, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
        try await FaultChecks.expectNoSecrets(fixture, outputs: [failed, resumed])
    }

    // MARK: The query

    @Test func aStatementTimeoutEndsASlowQueryWithItsSQLSTATE() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        let failed = try await fixture.run([
            "--yes", "--set", "connections.db.statement_timeout=1s", "--set", FaultChecks.slowQuery(seconds: 60),
        ])
        #expect(failed.status == 1, "\(failed.stderr)")
        try await FaultChecks.expectFailed(fixture, failed, stage: "query", mentions: ["57014", "statement timeout"])
        #expect(try await fixture.table() == before)

        // The same plan without the slow query: a fresh run converges.
        let again = try await fixture.run(["--yes"])
        #expect(again.status == 0, "\(again.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
        try await FaultChecks.expectNoSecrets(fixture, outputs: [failed, again])
    }

    @Test func aConnectionKilledDuringTheQueryFailsTheRunAndResumeConverges() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        let (process, out, err) = try fixture.sluice.start(
            fixture.runArguments(["--yes", "--set", FaultChecks.slowQuery(seconds: 30)]))
        defer { FaultChecks.stop(process) }
        try await FaultChecks.eventually("the query to be running") {
            try await fixture.sluiceBackends().contains { $0.query.contains("pg_sleep") }
        }
        try await fixture.terminateSluiceBackends()
        let failed = await FaultChecks.finish(process, out, err, within: .seconds(60))
        #expect(failed.status == 4, "\(failed.stderr)")
        try await FaultChecks.expectFailed(
            fixture, failed, stage: "query", mentions: ["57P01", "terminating connection due to administrator command"])
        #expect(try await fixture.table() == before)

        let resumed = try await fixture.sluice.run(["resume", fixture.lastRunDirectory().path, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
        try await FaultChecks.expectNoSecrets(fixture, outputs: [failed, resumed])
    }

    // MARK: Apply

    /// A table another session holds exclusively (`LOCK TABLE`, as a migration does) before the
    /// run starts: the check of the apply's table waits for it, and says so, naming the session,
    /// instead of the run hanging without a word; once the lock goes, the run goes on.
    @Test func aTableLockedExclusivelyBeforeTheRunIsSaidToBeWaitedFor() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 60)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let connection = try await fixture.server.connect(fixture.conninfo)
        _ = try await connection.execute("BEGIN")
        _ = try await connection.execute("LOCK TABLE tracks")
        let lock = HeldLock(connection: connection)
        let (process, out, err) = try fixture.sluice.start(fixture.runArguments(["--yes"]))
        defer { FaultChecks.stop(process) }
        // (Nothing to read back yet: the lock this test holds keeps the table from any reader.)
        try await lock.release(once: "waiting for a lock on tracks held by ", isIn: err)
        let finished = await FaultChecks.finish(process, out, err, within: .seconds(120))
        #expect(finished.status == 0, "\(finished.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
    }

    /// An undo (a dry run or not: the same words) waiting for a lock that another application's
    /// open transaction holds names it as a person knows it (its application, user, address,
    /// state and for how long, its last statement, as far as the server shows them to the
    /// undo's role) and says what to do, with the server pid `pg_terminate_backend` takes; it
    /// used to give only "another session (pid N, ...)".
    @Test(arguments: [(dryRun: true, sameRole: true), (dryRun: false, sameRole: false)])
    func anUndoWaitingForALockSaysWhoHoldsItAndWhatToDo(dryRun: Bool, sameRole: Bool) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        let applied = try await fixture.run(["--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        let run = try await fixture.lastRunDirectory()
        // The undo's own role sees all of the session; another one, what the server shows of it.
        let role = try #require(sameRole ? fixture.sluice.environment["DATABASE_URL"] : fixture.conninfo)
        let connection = try await fixture.server.connect(role + " application_name=nightly-report")
        _ = try await connection.execute("BEGIN")
        _ = try await connection.execute(
            "UPDATE tracks SET title = title WHERE id = (SELECT id FROM tracks ORDER BY id LIMIT 1)")
        let lock = HeldLock(connection: connection)
        let pid = connection.backendPID
        let (process, out, err) = try fixture.sluice.start(["undo", run.path, dryRun ? "--dry-run" : "--yes"])
        defer { FaultChecks.stop(process) }
        try await lock.release(once: "waiting for a lock on tracks held by ", isIn: err)
        let finished = await FaultChecks.finish(process, out, err, within: .seconds(120))
        #expect(finished.status == 0, "\(finished.stderr)")
        let said = finished.stderr.split(whereSeparator: \.isNewline).first { $0.contains("waiting for a lock") }
        let line = String(try #require(said))
        #expect(line.contains("held by a session of 'nightly-report' (user '"), "\(line)")
        if sameRole {
            #expect(line.contains(", from 127.0.0.1, idle in transaction for "), "\(line)")
            #expect(line.contains(", its transaction open "), "\(line)")
            #expect(
                line.contains(", last statement UPDATE, server pid \(pid)); going on when that transaction ends"),
                "\(line)")
        } else {
            #expect(
                line.contains(
                    ", what it is doing not shown to this role without pg_read_all_stats, server pid \(pid)); "
                        + "going on when that transaction ends"),
                "\(line)")
        }
        #expect(
            line.contains(
                "; to go on sooner, commit or roll back in that session, or end it (as its user or a superuser; what "
                    + "it did in its transaction is rolled back): SELECT pg_terminate_backend(\(pid));"),
            "\(line)")
    }

    /// A row lock a prepared (two-phase) transaction holds has no session: the wait named
    /// "another session (... server pid 0)" and advised `SELECT pg_terminate_backend(0);`, which
    /// ends nothing. It names the transaction and COMMIT/ROLLBACK PREPARED; Ctrl-C stops it as ever.
    @Test func anUndoWaitingForAPreparedTransactionNamesItAndCtrlCStillStopsIt() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        let applied = try await fixture.run(["--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        let run = try await fixture.lastRunDirectory()
        let enriched = try await fixture.table()
        let gid = "orphan-\(UUID().uuidString.prefix(8))"
        let connection = try await fixture.server.connect(fixture.conninfo)
        _ = try await connection.execute("BEGIN")
        _ = try await connection.execute(
            "UPDATE tracks SET title = title WHERE id = (SELECT id FROM tracks ORDER BY id LIMIT 1)")
        _ = try await connection.execute("PREPARE TRANSACTION '\(gid)'")
        let (process, out, err) = try fixture.sluice.start(["undo", run.path, "--yes"])
        defer { FaultChecks.stop(process) }
        let named = try? await FaultChecks.eventually("the wait to be said", within: .seconds(60)) {
            (try? await Files.text(err))?.contains("waiting for a lock on tracks held by ") == true
        }
        kill(process.processIdentifier, SIGINT)
        let interrupted = await FaultChecks.finish(process, out, err, within: .seconds(60))
        _ = try await connection.execute("ROLLBACK PREPARED '\(gid)'")
        await connection.close()
        #expect(named != nil, "\(interrupted.stderr)")
        #expect(interrupted.status == 130, "\(interrupted.stderr)")
        let line = interrupted.stderr.split(whereSeparator: \.isNewline).first { $0.contains("waiting for a lock") }
        let said = String(line ?? "")
        #expect(said.contains("held by prepared transaction '\(gid)' (owner 'postgres', prepared at "), "\(said)")
        #expect(
            said.contains("COMMIT PREPARED '\(gid)';") && said.contains("ROLLBACK PREPARED '\(gid)';")
                && !said.contains("pg_terminate_backend"), "\(said)")
        #expect(try await fixture.table() == enriched)
    }

    @Test func aValueTheCheckConstraintRefusesFailsNamingTheKeyAndTheConstraintAndChangesNothing() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        // Ten times the popularity (`12` becomes `120`), let through validate: the table's CHECK
        // (0..100) is the last line of defence.
        let failed = try await fixture.run([
            "--yes", "--set", "transform.fields.spotify_popularity=int(concat(response.popularity, '0'))",
            "--set", "validate.rules.spotify_popularity.max=1000",
        ])
        #expect(failed.status == 1, "\(failed.stderr)")
        // The first key (in key order) whose new popularity breaks the constraint.
        let offending = try #require(
            fixture.dataset.tracks.filter { fixture.dataset.isKnown($0) }
                .filter { (fixture.dataset.expected($0).popularity ?? 0) * 10 > 100 }
                .map(\.id).sorted().first)
        let manifest = try await FaultChecks.expectFailed(
            fixture, failed, stage: "apply",
            mentions: ["23514", "tracks_spotify_popularity_check", offending, "nothing was changed"])
        #expect(manifest.stage("apply")?.outputs.contains { $0.kind == "undo" } != true)
        #expect(try await fixture.table() == before)
        // Not resumable as it is, but the answers are kept for a resume once it is fixed.
        #expect(failed.stdout.contains("are kept: once the cause is fixed"), "\(failed.stdout)")
        #expect(failed.stdout.contains("  sluice resume "), "\(failed.stdout)")

        // The job itself, unchanged, converges.
        let again = try await fixture.run(["--yes"])
        #expect(again.status == 0, "\(again.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
        try await FaultChecks.expectNoSecrets(fixture, outputs: [failed, again])
    }

    /// A failed run whose answers file is gone (its directory removed and made again) does not
    /// claim them kept, and its resume says it asks the API for everything again: it claimed the
    /// answers kept, and the resume spent the API's quota on them without a word.
    @Test func answersThatAreGoneAreNotClaimedKept() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 60)
        defer { Task { await fixture.tearDown() } }
        let failed = try await fixture.run([
            "--yes", "--set", "transform.fields.spotify_popularity=int(concat(response.popularity, '0'))",
            "--set", "validate.rules.spotify_popularity.max=1000",
        ])
        #expect(failed.status == 1, "\(failed.stderr)")
        let run = try await fixture.lastRunDirectory()
        let answers = try #require(
            await fixture.manifests().last?.manifest.stage("fetch")?.outputs.first { $0.kind == "answers" })
        try FileManager.default.removeItem(at: answers.url(in: run))
        let shown = try await fixture.sluice.run(["runs", "show", run.path])
        #expect(
            shown.stdout.contains("are not in \(run.path) any more (was the directory removed?)"), "\(shown.stdout)")
        #expect(!shown.stdout.contains("are kept"), "\(shown.stdout)")
        let resumed = try await fixture.sluice.run(["resume", run.path, "--yes"])
        #expect(
            (resumed.stdout + resumed.stderr).contains(
                "recorded \(answers.rows) answers in \(answers.url(in: run).path), which is gone or unreadable: asking "
                    + "the API for every id again"), "\(resumed.stderr)")
    }

    @Test func aConnectionKilledDuringTheUpdateRollsBackAndAReplayOfApplyConverges() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()

        let failed = try await Self.killingTheUpdate(fixture, fixture.sluice, fixture.runArguments(["--yes"]))
        #expect(failed.status == 4, "\(failed.stderr)")
        try await FaultChecks.expectFailed(
            fixture, failed, stage: "apply",
            mentions: ["57P01", "failed while writing the rows", "nothing was changed"])
        #expect(try await fixture.table() == before)

        let replayed = try await fixture.sluice.run([
            "replay", fixture.lastRunDirectory().path, "--from", "apply", "--yes",
        ])
        #expect(replayed.status == 0, "\(replayed.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
        try await FaultChecks.expectNoSecrets(fixture, outputs: [failed, replayed])
    }

    /// Runs `sluice` with `arguments` holding one row its UPDATE changes, so the UPDATE waits on
    /// it mid-statement, then ends sluice's sessions (`pg_terminate_backend`: 57P01).
    static func killingTheUpdate(
        _ fixture: EnrichmentFixture, _ sluice: SluiceProcess, _ arguments: [String]
    ) async throws -> SluiceProcess.Outcome {
        let lock = try await fixture.holdRowLock(on: fixture.aTrackThatWillChange())
        let (process, out, err) = try sluice.start(arguments)
        defer { FaultChecks.stop(process) }
        try await FaultChecks.eventually("the UPDATE to wait for the row", within: .seconds(60)) {
            try await fixture.sluiceBackends().contains { $0.query.hasPrefix("UPDATE") && $0.waitEventType == "Lock" }
        }
        try await fixture.terminateSluiceBackends()
        await lock.release()
        return await FaultChecks.finish(process, out, err, within: .seconds(60))
    }

    /// The same for `sluice apply FILE.csv`: its error, located in the file, is resumable too
    /// (it exited 1, "failed", with no command to continue).
    @Test func aConnectionKilledDuringTheUpdateOfACSVApplyStopsItResumable() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let (file, _) = try await fixture.reviewedCSVWithRows()
        let before = try await fixture.table()
        let failed = try await Self.killingTheUpdate(
            fixture, fixture.databaseOnly,
            ["apply", "plans/spotify-enrichment.yaml", file.path, "--runs-dir", fixture.runsDirectory, "--yes"])
        #expect(failed.status == 4, "\(failed.stderr)\n\(failed.stdout)")
        #expect(failed.stdout.contains("nothing was changed"), "\(failed.stdout)")
        #expect(try await fixture.table() == before)
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.error?.resumable == true)
    }

    /// Two approvals of one review: the first cut off and resumed (committed, then partly undone),
    /// the second cut off too. Its resume is judged as a replay of the gate is: the first
    /// approval's apply is the same review's, not a newer one that approving would overwrite (the
    /// resume was refused, "older than applies ... since", while the replay was accepted).
    @Test func aSecondApprovalOfAReviewCutOffResumesThoughTheFirstCommittedSince() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        #expect(try await fixture.sluice.run(fixture.runArguments()).status == 3)
        let gate = try await fixture.lastRunDirectory().path
        let approve = ["replay", gate, "--from", "apply", "--yes", "--set", "apply.on_drift=skip"]
        #expect(try await Self.killingTheUpdate(fixture, fixture.sluice, approve).status == 4)
        let first = try await fixture.lastRunDirectory().path
        let resumed = try await fixture.sluice.run(["resume", first, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let applied = try await fixture.lastRunDirectory().path
        // Someone changes one row it wrote; its undo leaves that one (exit 6: partly undone).
        let locked = try fixture.aTrackThatWillChange()
        let byHand = try #require(try await fixture.table().keys.sorted().first { $0 != locked && before[$0] != nil })
        _ = try await fixture.server.execute(
            "UPDATE tracks SET isrc = 'BYHAND' WHERE id = $1", [.string(byHand)], conninfo: fixture.conninfo)
        #expect(try await fixture.sluice.run(["undo", applied, "--yes"]).status == 6)

        #expect(try await Self.killingTheUpdate(fixture, fixture.sluice, approve).status == 4)
        let second = try await fixture.lastRunDirectory().path
        let again = try await fixture.sluice.run(["resume", second, "--yes"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(!again.stderr.contains("is older than applies"), "\(again.stderr)")
    }

    /// A COMMIT whose connection dies before the answer comes back: the client cannot know
    /// whether it happened, so sluice must find out (`txid_status`) rather than guess. Here the
    /// backend is killed while COMMIT runs a deferred trigger, so the transaction is rolled back.
    @Test func aCommitCutBeforeItFinishesIsCheckedAndReportedAsRolledBack() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        try await fixture.installSlowCommit(seconds: 30)
        let before = try await fixture.table()

        let (process, out, err) = try fixture.sluice.start(fixture.runArguments(["--yes"]))
        defer { FaultChecks.stop(process) }
        try await fixture.waitForCommitToRun()
        try await fixture.terminateSluiceBackends()
        let failed = await FaultChecks.finish(process, out, err, within: .seconds(60))
        #expect(failed.status == 4, "\(failed.stderr)")
        let manifest = try await FaultChecks.expectFailed(
            fixture, failed, stage: "apply", mentions: ["commit", "rolled back", "nothing was changed"])
        #expect(manifest.stage("apply")?.outputs.contains { $0.kind == "undo" } != true)
        #expect(try await fixture.table() == before)

        try await fixture.removeSlowCommit()
        let replayed = try await fixture.sluice.run([
            "replay", fixture.lastRunDirectory().path, "--from", "apply", "--yes",
        ])
        #expect(replayed.status == 0, "\(replayed.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
        try await FaultChecks.expectNoSecrets(fixture, outputs: [failed, replayed])
    }

    /// A run killed while its COMMIT went through unanswered (the proxy in front of the
    /// server swallows the answer, so the server sees no client gone): the table changed, and
    /// the run never learnt it. Its undo file names the transaction; `sluice resume` asks the
    /// server and says the apply committed and whose undo puts it back — not its own, which
    /// changes nothing.
    @Test func aResumeAsksWhatBecameOfACommitItsRunNeverHeardBack() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        // Seconds enough for the test to see the COMMIT running and stall the proxy before its
        // answer comes back, on a loaded machine too.
        try await fixture.installSlowCommit(seconds: 8)
        let before = try await fixture.table()
        let proxy = FaultProxy(targetPort: try #require(fixture.server.port))
        let port = try proxy.start()
        defer { Task { await proxy.stop() } }
        var sluice = fixture.sluice
        sluice.environment["DATABASE_URL"] = try PostgresConnection.conninfo(
            try #require(fixture.sluice.environment["DATABASE_URL"]), setting: ["port": "\(port)"])

        let (process, _, _) = try sluice.start(fixture.runArguments(["--yes"]))
        defer { FaultChecks.stop(process) }
        try await fixture.waitForCommitToRun()
        proxy.setMode(.stall)
        try await FaultChecks.eventually("the COMMIT to go through", within: .seconds(60)) {
            try await fixture.table() != before
        }
        kill(process.processIdentifier, SIGKILL)
        try await FaultChecks.eventually("sluice to be gone", within: .seconds(60)) { !process.isRunning }
        let killed = try await fixture.lastRunDirectory()
        let undoFile = killed.appendingPathComponent("apply.undo.ndjson")
        let undoText = try await BlockingIO.runOnOwnThread { try String(contentsOf: undoFile, encoding: .utf8) }
        #expect(undoText.hasPrefix("{") && undoText.contains("\"marks_commit\":true"))
        #expect(undoText.split(separator: "\n").last?.hasPrefix("{\"transaction\":") == true, "\(undoText.suffix(200))")

        try await fixture.removeSlowCommit()
        let resumed = try await fixture.sluice.run(["resume", killed.path, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let runID = killed.lastPathComponent
        #expect(
            resumed.stderr.contains(
                "note: stage 'apply' of run \(runID) committed before the run stopped (the server reports transaction "),
            "\(resumed.stderr)")
        #expect(resumed.stderr.contains("undo run \(runID): sluice undo \(killed.path)"), "\(resumed.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
        // A later apply of a row the killed run left alone (a track Spotify does not know):
        // undoing the killed run is refused while it stands, though that run never recorded
        // finishing its apply.
        let untouched = try #require(fixture.dataset.tracks.first { !fixture.dataset.isKnown($0) }?.id)
        let csv = fixture.directory.appendingPathComponent("later.csv")
        try await Files.write(Array("track_id,spotify_popularity,isrc\n\(untouched),42,XX0000000001\n".utf8), to: csv)
        let laterApply = try await fixture.databaseOnly.run([
            "apply", "plans/spotify-enrichment.yaml", csv.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(laterApply.status == 0, "\(laterApply.stderr)")
        let later = try #require(await fixture.manifests().last?.manifest.runID)
        let refused = try await fixture.sluice.run(["undo", killed.path, "--yes"])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("after this one and are not undone: \(later)"), "\(refused.stderr)")
        // The killed run's undo is the one that puts its rows back.
        let undone = try await fixture.sluice.run(["undo", killed.path, "--yes", "--force"])
        #expect(undone.status == 0, "\(undone.stderr)")
        #expect(try await fixture.table().filter { $0.key != untouched } == before.filter { $0.key != untouched })
    }

    /// Killed while COMMIT runs (the server notices the client gone and rolls back): the
    /// resume says that apply did not commit, and applies the rows itself.
    @Test func aResumeSaysACommitCutByTheProcessDyingWasRolledBack() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        try await fixture.installSlowCommit(seconds: 60)
        let before = try await fixture.table()
        let (process, _, _) = try fixture.sluice.start(fixture.runArguments(["--yes"]))
        defer { FaultChecks.stop(process) }
        try await fixture.waitForCommitToRun()
        kill(process.processIdentifier, SIGKILL)
        // The server checks for its client every 2 s while a query runs (sluice sets
        // client_connection_check_interval), and ends the session.
        try await fixture.waitForNoSluiceBackends()
        #expect(try await fixture.table() == before)
        // Listed as what it is until asked: its COMMIT was sent (it read like a run killed
        // before it changed anything).
        let listed = try await fixture.sluice.run(["runs", "--runs-dir", fixture.runsDirectory])
        #expect(
            listed.stdout.contains("running, process gone, may have applied (commit outcome unknown)"),
            "\(listed.stdout)")

        try await fixture.removeSlowCommit()
        let killed = try await fixture.lastRunDirectory()
        let resumed = try await fixture.sluice.run(["resume", killed.path, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(
            resumed.stderr.contains(
                "note: stage 'apply' of run \(killed.lastPathComponent) did not commit (the server reports transaction "
            ),
            "\(resumed.stderr)")
        #expect(resumed.stderr.contains("rolled back): nothing of it is in the table"), "\(resumed.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
        // Its undo has nothing to put back: undoing it would take the resume's rows for its own.
        let enriched = try await fixture.table()
        let undone = try await fixture.sluice.run(["undo", killed.path, "--yes"])
        #expect(undone.status == 0, "\(undone.stderr)")
        #expect(undone.stderr.contains("did not commit ("), "\(undone.stderr)")
        #expect(undone.stderr.hasSuffix("): nothing to undo\n"), "\(undone.stderr)")
        #expect(try await fixture.table() == enriched)
    }
}

// MARK: - Checks shared by the fault tests

enum FaultChecks {
    static let secrets = [EnrichmentFixture.clientSecret, TestPostgres.passwordRolePassword]

    /// The run failed in `stage`: the manifest says so, and what sluice printed (or the
    /// manifest's error) mentions every one of `mentions` (case-insensitive).
    @discardableResult
    static func expectFailed(
        _ fixture: EnrichmentFixture, _ outcome: SluiceProcess.Outcome, stage: String, mentions: [String],
        secrets extra: [String] = [], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Manifest {
        let manifest = try #require(await fixture.manifests().last?.manifest, sourceLocation: sourceLocation)
        #expect(manifest.status == .failed, sourceLocation: sourceLocation)
        #expect(manifest.finishedAt != nil, sourceLocation: sourceLocation)
        #expect(
            manifest.error?.stage == stage, "\(manifest.error?.message ?? "no error")", sourceLocation: sourceLocation)
        #expect(manifest.stage(stage)?.status == .failed, sourceLocation: sourceLocation)
        let said = (outcome.stdout + "\n" + outcome.stderr).lowercased()
        let recorded = (manifest.error?.message ?? "").lowercased()
        for mention in mentions {
            #expect(
                said.contains(mention.lowercased()) && recorded.contains(mention.lowercased()),
                "'\(mention)' missing from the output or the manifest:\n\(outcome.stdout)\n\(outcome.stderr)\nmanifest: \(recorded)",
                sourceLocation: sourceLocation)
        }
        for secret in secrets + extra {
            #expect(!said.contains(secret.lowercased()), sourceLocation: sourceLocation)
        }
        return manifest
    }

    /// Every track Spotify knows holds the catalog's values; every other row and column is as before.
    static func expectEnriched(
        _ fixture: EnrichmentFixture, before: [String: [String?]], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let after = try await fixture.table()
        #expect(after.count == before.count, sourceLocation: sourceLocation)
        for track in fixture.dataset.tracks {
            let row = try #require(after[track.id], sourceLocation: sourceLocation)
            let expected = fixture.dataset.expected(track)
            #expect(row[0] == expected.popularity.map(String.init), "\(track.kind)", sourceLocation: sourceLocation)
            #expect(row[1] == expected.isrc, "\(track.kind)", sourceLocation: sourceLocation)
            #expect(row[2...] == before[track.id]?[2...], sourceLocation: sourceLocation)
        }
    }

    /// The table is exactly as before or exactly enriched: never half of each.
    static func isBeforeOrEnriched(_ fixture: EnrichmentFixture, before: [String: [String?]]) async throws -> Bool {
        let after = try await fixture.table()
        if after == before { return true }
        guard after.count == before.count else { return false }
        return fixture.dataset.tracks.allSatisfy { track in
            let expected = fixture.dataset.expected(track)
            guard let row = after[track.id] else { return false }
            return row[0] == expected.popularity.map(String.init) && row[1] == expected.isrc
                && row[2...] == before[track.id]?[2...]
        }
    }

    /// No secret in any file under the runs directory (all of them 0600) or in what sluice printed.
    static func expectNoSecrets(
        _ fixture: EnrichmentFixture, outputs: [SluiceProcess.Outcome], extra: [String] = [],
        runsDirectory: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let runs = URL(fileURLWithPath: runsDirectory ?? fixture.runsDirectory)
        for (file, text, mode) in try await Files.everyFile(under: runs) {
            for secret in secrets + extra {
                #expect(!text.contains(secret), "\(secret) in \(file.path)", sourceLocation: sourceLocation)
            }
            #expect(
                mode == 0o600, "\(file.lastPathComponent) is \(String(mode ?? 0, radix: 8))",
                sourceLocation: sourceLocation)
        }
        for output in outputs {
            for secret in secrets + extra {
                #expect(!output.stdout.contains(secret), sourceLocation: sourceLocation)
                #expect(!output.stderr.contains(secret), sourceLocation: sourceLocation)
            }
        }
    }

    /// `--set query.sql=...`: the plan's query, made to sleep `seconds` on the server first.
    static func slowQuery(seconds: Int) -> String {
        "query.sql=SELECT id AS track_id, spotify_id FROM tracks, pg_sleep(\(seconds)) "
            + "WHERE spotify_id IS NOT NULL AND btrim(spotify_id) <> '' ORDER BY id"
    }

    /// Polls `condition` every 50 ms until it holds; records an issue and throws after `within`.
    static func eventually(
        _ what: String, within limit: Duration = .seconds(60), sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out after \(limit) waiting for \(what)", sourceLocation: sourceLocation)
        throw TimedOut(what: what)
    }

    struct TimedOut: Error { var what: String }

    /// Waits (bounded) for a started sluice to exit and reads what it printed; kills it on overrun.
    static func finish(
        _ process: Process, _ out: URL, _ err: URL, within limit: Duration
    ) async
        -> SluiceProcess.Outcome
    {
        let deadline = ContinuousClock.now + limit
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            Issue.record("sluice did not exit within \(limit)")
            stop(process)
        }
        await SluiceProcess.wait(for: process)
        return await SluiceProcess.outcome(of: process, out, err)
    }

    /// Kills a sluice this test started, by its pid, if it is still running.
    static func stop(_ process: Process) {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// A transaction the test keeps open to hold a lock; `release()` rolls it back.
struct HeldLock {
    let connection: PostgresConnection

    func release() async {
        _ = try? await connection.execute("ROLLBACK")
        await connection.close()
    }

    /// Lets the lock go once `file` (a process's stderr) says `text`, or when it does not within
    /// a minute, then failing.
    func release(once text: String, isIn file: URL) async throws {
        do {
            try await FaultChecks.eventually("the wait to be said", within: .seconds(60)) {
                (try? await Files.text(file))?.contains(text) == true
            }
        } catch {
            await release()
            throw error
        }
        await release()
    }
}

/// What the fault tests need beyond the shared fixture.
extension EnrichmentFixture {
    struct Backend {
        var pid: Int
        var query: String
        var state: String?
        var waitEventType: String?
    }

    var databaseName: String {
        String(conninfo.split(separator: " ").first { $0.hasPrefix("dbname=") }?.dropFirst(7) ?? "")
    }

    /// `run` with the fixture's runs directory and fast fetch, for `sluice.start`/`sluice.run`.
    func runArguments(_ extra: [String] = []) -> [String] {
        ["run", "plans/spotify-enrichment.yaml", "--runs-dir", runsDirectory, "--set", "fetch.delay=0.01s"] + extra
    }

    func lastRunDirectory() async throws -> URL {
        try #require(await manifests().last?.directory)
    }

    /// The server processes serving sluice (the plan connects as the password role).
    func sluiceBackends() async throws -> [Backend] {
        let result = try await server.execute(
            """
            SELECT pid, coalesce(query, ''), state, wait_event_type FROM pg_stat_activity
            WHERE datname = current_database() AND usename = $1 AND pid <> pg_backend_pid()
            """, [.string(TestPostgres.passwordRole)], conninfo: conninfo)
        return result.rows.map { row in
            Backend(
                pid: Int(row[0].intValue ?? 0), query: row[1].text ?? "", state: row[2].text, waitEventType: row[3].text
            )
        }
    }

    /// `pg_terminate_backend` for every sluice connection: the server ends them with FATAL 57P01.
    func terminateSluiceBackends() async throws {
        try await server.execute(
            """
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND usename = $1 AND pid <> pg_backend_pid()
            """, [.string(TestPostgres.passwordRole)], conninfo: conninfo)
    }

    /// Waits until sluice holds no connection to the database any more.
    func waitForNoSluiceBackends() async throws {
        try await FaultChecks.eventually("sluice's connections to end") { try await sluiceBackends().isEmpty }
    }

    /// A known track whose popularity or ISRC the enrichment changes.
    func aTrackThatWillChange() throws -> String {
        try #require(
            dataset.tracks.first { track in
                let expected = dataset.expected(track)
                return dataset.isKnown(track)
                    && (expected.popularity != track.popularity || expected.isrc != track.isrc)
            }?.id)
    }

    /// Locks one row (`FOR UPDATE`): apply's table lock is granted, its UPDATE waits for the row.
    func holdRowLock(on id: String) async throws -> HeldLock {
        let connection = try await server.connect(conninfo)
        _ = try await connection.execute("BEGIN")
        _ = try await connection.execute("SELECT 1 FROM tracks WHERE id = $1::uuid FOR UPDATE", [.string(id)])
        return HeldLock(connection: connection)
    }

    /// Takes a lock on the table that conflicts with apply's `SHARE ROW EXCLUSIVE` (what any
    /// open writing transaction holds), so apply waits before it starts.
    func holdTableLock() async throws -> HeldLock {
        let connection = try await server.connect(conninfo)
        _ = try await connection.execute("BEGIN")
        _ = try await connection.execute("LOCK TABLE tracks IN ROW EXCLUSIVE MODE")
        return HeldLock(connection: connection)
    }

    /// A deferred constraint trigger that makes the first COMMIT touching `tracks` sleep on the
    /// server, so the test can break the connection while COMMIT is in flight.
    func installSlowCommit(seconds: Int) async throws {
        try await server.execute(
            """
            CREATE FUNCTION sluice_test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF current_setting('sluice_test.slept', true) IS DISTINCT FROM 'yes' THEN
                    PERFORM set_config('sluice_test.slept', 'yes', true);
                    PERFORM pg_sleep(\(seconds));
                END IF;
                RETURN NULL;
            END $$;
            CREATE CONSTRAINT TRIGGER sluice_test_slow_commit AFTER UPDATE ON tracks
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sluice_test_slow_commit();
            """, conninfo: conninfo)
    }

    /// Waits until one of sluice's sessions runs COMMIT (held there by ``installSlowCommit(seconds:)``).
    func waitForCommitToRun() async throws {
        try await FaultChecks.eventually("COMMIT to be running", within: .seconds(60)) {
            try await sluiceBackends().contains { $0.query == "COMMIT" && $0.state == "active" }
        }
    }

    func removeSlowCommit() async throws {
        try await server.execute(
            "DROP TRIGGER sluice_test_slow_commit ON tracks; DROP FUNCTION sluice_test_slow_commit()",
            conninfo: conninfo)
    }
}
