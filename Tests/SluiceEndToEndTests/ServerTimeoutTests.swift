import Foundation
import SluiceCore
import SluicePipeline
import SluicePostgres
import SluiceTestSupport
import Testing

/// The server's own timeouts, as a production database sets them (`ALTER DATABASE ... SET
/// lock_timeout`): the test holds a lock from another connection, so sluice's wait for it ends
/// by the server's `lock_timeout` whatever the machine's load. A timeout that changed nothing
/// says which setting fired, where it was set, who holds the lock and what to do, and leaves a
/// run that `sluice resume` continues (exit 4); it was exit 1 with the server's words alone.
@Suite(.serialized)
struct ServerTimeoutTests {
    /// A lock held by another application's open transaction: `ROW EXCLUSIVE` (a writer's),
    /// which the apply waits for, or `ACCESS EXCLUSIVE` (a migration's), which even a read does.
    static func holdLock(
        _ fixture: EnrichmentFixture, mode: String = "ROW EXCLUSIVE", table: String = "tracks"
    ) async throws -> HeldLock {
        let connection = try await fixture.server.connect(fixture.conninfo + " application_name=nightly-report")
        _ = try await connection.execute("BEGIN")
        _ = try await connection.execute("LOCK TABLE \(table) IN \(mode) MODE")
        return HeldLock(connection: connection)
    }

    /// The fixture's database, unquoted (its conninfo quotes it).
    static func database(_ fixture: EnrichmentFixture) -> String {
        fixture.databaseName.trimmingCharacters(in: CharacterSet(charactersIn: "'"))
    }

    static func setDatabaseLockTimeout(_ fixture: EnrichmentFixture, _ value: String) async throws {
        _ = try await fixture.server.execute("ALTER DATABASE \(database(fixture)) SET lock_timeout = \(value)")
    }

    /// What every message about the database's `lock_timeout` ending a wait for `holder` says.
    static func mentions(_ fixture: EnrichmentFixture, holder: HeldLock) -> [String] {
        [
            "lock_timeout", "200ms", "set for database '\(database(fixture))'", "a session of 'nightly-report'",
            "SELECT pg_terminate_backend(\(holder.connection.backendPID));", "PGOPTIONS='-c lock_timeout=",
        ]
    }

    @Test func anApplyEndedByTheDatabasesLockTimeoutSaysWhoHoldsTheLockAndResumes() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        try await Self.setDatabaseLockTimeout(fixture, "'200ms'")
        let lock = try await Self.holdLock(fixture)
        let failed = try await fixture.run(["--yes"])
        await lock.release()
        #expect(failed.status == 4, "\(failed.stdout)\n\(failed.stderr)")
        let manifest = try await FaultChecks.expectFailed(
            fixture, failed, stage: "apply",
            mentions: Self.mentions(fixture, holder: lock) + ["55P03", "nothing was changed"])
        #expect(manifest.error?.resumable == true)
        #expect(failed.stdout.contains("  sluice resume "), "\(failed.stdout)")
        #expect(try await fixture.table() == before)

        let resumed = try await fixture.sluice.run(["resume", fixture.lastRunDirectory().path, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
        try await FaultChecks.expectNoSecrets(fixture, outputs: [failed, resumed])
    }

    /// A `statement_timeout` given at connect (`PGOPTIONS`) that ends the apply's wait for a lock
    /// says so, and who holds the lock; a resume without it goes through.
    @Test func anApplyEndedByAStatementTimeoutFromPGOPTIONSWhileItWaitsSaysSoAndResumes() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        var sluice = fixture.sluice
        // Long enough for every statement that does not wait, however loaded the machine.
        sluice.environment["PGOPTIONS"] = "-c statement_timeout=5s"
        let lock = try await Self.holdLock(fixture)
        let failed = try await sluice.run(fixture.runArguments(["--yes"]))
        await lock.release()
        #expect(failed.status == 4, "\(failed.stdout)\n\(failed.stderr)")
        try await FaultChecks.expectFailed(
            fixture, failed, stage: "apply",
            mentions: [
                "57014", "the server's statement_timeout (5s, set when sluice connected (PGOPTIONS",
                "a session of 'nightly-report'", "SELECT pg_terminate_backend(\(lock.connection.backendPID));",
                "PGOPTIONS='-c statement_timeout=", "nothing was changed",
            ])
        #expect(try await fixture.table() == before)
        let resumed = try await fixture.sluice.run(["resume", fixture.lastRunDirectory().path, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
    }

    /// The approval of a review (`replay --from apply`) and an undo say the same.
    @Test func anApprovalAndAnUndoEndedByTheLockTimeoutSayWhoHoldsTheLock() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let stopped = try await fixture.run()
        #expect(stopped.status == 3, "\(stopped.stderr)")
        let gate = try await fixture.lastRunDirectory()
        try await Self.setDatabaseLockTimeout(fixture, "'200ms'")
        var lock = try await Self.holdLock(fixture)
        let failed = try await fixture.sluice.run(["replay", gate.path, "--from", "apply", "--yes"])
        await lock.release()
        #expect(failed.status == 4, "\(failed.stdout)\n\(failed.stderr)")
        try await FaultChecks.expectFailed(
            fixture, failed, stage: "apply", mentions: Self.mentions(fixture, holder: lock) + ["nothing was changed"])
        #expect(try await fixture.table() == before)
        let resumed = try await fixture.sluice.run(["resume", fixture.lastRunDirectory().path, "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
        let applied = try await fixture.lastRunDirectory()
        let enriched = try await fixture.table()

        lock = try await Self.holdLock(fixture)
        let undo = try await fixture.sluice.run(["undo", applied.path, "--yes"])
        await lock.release()
        #expect(undo.status == 1, "\(undo.stderr)")
        let said = undo.stderr
        for mention in Self.mentions(fixture, holder: lock) + ["nothing was changed", "run this undo again"] {
            #expect(said.contains(mention), "'\(mention)' missing: \(said)")
        }
        #expect(try await fixture.table() == enriched)
    }

    /// A table held exclusively (a migration's `ALTER TABLE`) when the run starts: the check of
    /// the apply's table before the run, sluice's own statement, is what the timeout ends, and
    /// the message says so; it named a verify check, as if its SQL were wrong.
    @Test func aTimeoutBeforeTheRunNamesSluicesOwnStatementNotAVerifyCheck() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        try await Self.setDatabaseLockTimeout(fixture, "'200ms'")
        let lock = try await Self.holdLock(fixture, mode: "ACCESS EXCLUSIVE")
        let failed = try await fixture.run(["--yes"])
        await lock.release()
        #expect(failed.status == 4, "\(failed.stdout)\n\(failed.stderr)")
        let manifest = try await FaultChecks.expectFailed(
            fixture, failed, stage: "apply",
            mentions: Self.mentions(fixture, holder: lock) + [
                "sluice's check of tracks (SELECT ", "nothing ran",
            ])
        let message = manifest.error?.message ?? ""
        #expect(!message.contains("checks[") && !message.contains("check '"), "\(message)")
        #expect(try await fixture.table() == before)

        // `sluice check --connect` names the statements too: the verify's is the description of
        // its check's query (nothing of it ran), not an error in the check; the query's, its plan.
        let lockAgain = try await Self.holdLock(fixture, mode: "ACCESS EXCLUSIVE")
        let checked = try await fixture.sluice.run(["check", "plans/spotify-enrichment.yaml", "--connect"])
        await lockAgain.release()
        #expect(checked.status != 0, "\(checked.stdout)\n\(checked.stderr)")
        let said = checked.stdout + checked.stderr
        #expect(said.contains("sluice's description of the query of check '"), "\(said)")
        #expect(!said.contains("sql (check '") && !said.contains("stages.query.sql: ERROR 55P03"), "\(said)")
        #expect(said.contains("sluice's check of the query's SQL (planned, not run)"), "\(said)")
    }

    /// A run's query that the database's lock_timeout cancels (a migration holds its table) says
    /// which setting, where it was set and who holds the table, and resumes: it was the server's
    /// words alone, exit 1.
    @Test func aQueryEndedByTheLockTimeoutSaysWhoHoldsItsTableAndResumes() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        let plan = try await fixture.queryPlan(named: "ids", sql: "sql: SELECT id FROM tracks")
        try await Self.setDatabaseLockTimeout(fixture, "'200ms'")
        let lock = try await Self.holdLock(fixture, mode: "ACCESS EXCLUSIVE")
        let failed = try await fixture.sluice.run(["run", plan.path, "--runs-dir", fixture.runsDirectory])
        await lock.release()
        #expect(failed.status == 4, "\(failed.stdout)\n\(failed.stderr)")
        let manifest = try await FaultChecks.expectFailed(
            fixture, failed, stage: "query",
            mentions: Self.mentions(fixture, holder: lock) + [
                "its query (", "stages.query.sql) was cancelled (ERROR 55P03: ", "a table its query reads",
                "tracks is held now",
            ])
        #expect(manifest.error?.resumable == true)
        let resumed = try await fixture.sluice.run(["resume", fixture.lastRunDirectory().path])
        #expect(resumed.status == 0, "\(resumed.stderr)")
    }

    /// A verify check whose query the lock_timeout cancels once the apply committed (the check
    /// reads a table a migration holds, through a function the check's description before the
    /// run does not open) says the apply committed and only the check could not run, who holds
    /// the table, and how to run the checks again: `sluice resume` then passes without applying
    /// again.
    @Test func aVerifyCheckEndedByTheLockTimeoutAfterTheCommitSaysTheApplyCommitted() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        _ = try await fixture.server.execute(
            """
            CREATE TABLE audit (n int);
            GRANT SELECT ON audit TO \(TestPostgres.passwordRole);
            CREATE FUNCTION audit_rows() RETURNS bigint LANGUAGE plpgsql AS
                $$ BEGIN RETURN (SELECT count(*) FROM audit); END $$;
            """, conninfo: fixture.conninfo)
        try await Self.setDatabaseLockTimeout(fixture, "'200ms'")
        let lock = try await Self.holdLock(fixture, mode: "ACCESS EXCLUSIVE", table: "audit")
        let failed = try await fixture.run([
            "--yes", "--set", "verify.checks=[{name: audited, sql: 'SELECT audit_rows()', expect: '>= 0'}]",
        ])
        await lock.release()
        #expect(failed.status == 5, "\(failed.stdout)\n\(failed.stderr)")
        let manifest = try await FaultChecks.expectFailed(
            fixture, failed, stage: "verify",
            mentions: Self.mentions(fixture, holder: lock) + [
                "check 'audited': its query was cancelled (ERROR 55P03: ", "audit is held now",
                "stage 'apply' committed before the checks",
            ])
        #expect(manifest.error?.resumable == true)
        #expect(failed.stdout.contains("sluice undo "), "\(failed.stdout)")
        let run = try await fixture.lastRunDirectory().path
        #expect(
            failed.stdout.contains(
                "to keep the change and run stage 'verify' and the stages after it again (the apply does not run "
                    + "again), continue later with:\n  sluice replay \(run) --from verify --yes\n"),
            "\(failed.stdout)")
        try await FaultChecks.expectEnriched(fixture, before: before)

        let resumed = try await fixture.sluice.run(["replay", run, "--from", "verify", "--yes"])
        #expect(resumed.status == 0, "\(resumed.stdout)\n\(resumed.stderr)")
        try await FaultChecks.expectEnriched(fixture, before: before)
    }
}
