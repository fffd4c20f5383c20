import SluicePostgres
import SluiceTestSupport
import Testing

@testable import Sluice
@testable import SluicePlan

/// What the lock-wait watcher says, and when, from what `pg_blocking_pids` showed (no server).
@Suite struct LockWaitTests {
    let start = ContinuousClock.now
    let run = LockHolder(
        pid: 4242, applicationName: "sluice 20261125-101500-a1b2c3 apply", user: "etl", state: "active")
    let psql = LockHolder(pid: 77, applicationName: "psql", user: "alice", state: "idle in transaction")

    func observe(_ wait: inout LockWait, _ holders: [LockHolder], after seconds: Int) -> String? {
        wait.observe(holders, at: start + .seconds(seconds), interval: .seconds(1), repeatEvery: .seconds(30))
    }

    @Test func namesAnotherSluiceRunByItsRunAndStageAndAnyOtherSessionByWhatTheServerShows() {
        #expect(run.description == "sluice run 20261125-101500-a1b2c3 (stage 'apply', server pid 4242)")
        #expect(
            LockHolder(pid: 5, applicationName: "sluice 20261125-101500-a1b2c3 undo", user: "etl", state: "active")
                .description == "sluice undo of run 20261125-101500-a1b2c3 (server pid 5)")
        #expect(psql.description == "a session of 'psql' (user 'alice', idle in transaction, server pid 77)")
        var report = psql
        (report.client, report.transactionSeconds, report.stateSeconds, report.statement) = (
            "10.1.2.3", 250, 192, "UPDATE"
        )
        #expect(
            report.description
                == "a session of 'psql' (user 'alice', from 10.1.2.3, idle in transaction for 3m12s, its transaction "
                + "open 4m10s, last statement UPDATE, server pid 77)")
        report.client = "local"
        #expect(report.description.contains("(user 'alice', over a local socket, idle in transaction for 3m12s"))
        #expect(
            LockHolder(pid: 9, applicationName: "", user: "", state: "").description
                == "another session (what it is doing not shown to this role without pg_read_all_stats, server pid 9)")
        #expect(LockHolder(pid: 9, applicationName: "sluice", user: "", state: "").sluiceRun == nil)
        // The server's own processes by what they are: autovacuum, which gives way to a lock it blocks.
        #expect(
            LockHolder(pid: 14032, applicationName: "", user: "", state: "active", backendType: "autovacuum worker")
                .description == "autovacuum (server pid 14032; it usually gives way within a second)")
        #expect(
            LockHolder(pid: 9, applicationName: "", user: "", state: "", backendType: "background worker").description
                == "another session (background worker, server pid 9)")
    }

    /// What to do is said with the wait: end another application's transaction (with the
    /// server pid that takes), look at another sluice run; nothing for the server's own.
    @Test func saysWhatToDoAboutEachKindOfHolder() {
        #expect(
            LockHolder.advice([psql])
                == "to go on sooner, commit or roll back in that session, or end it (as its user or a superuser; what "
                + "it did in its transaction is rolled back): SELECT pg_terminate_backend(77);")
        #expect(LockHolder.advice([run]) == "to see what that run is doing: sluice runs show 20261125-101500-a1b2c3")
        let vacuum = LockHolder(pid: 3, applicationName: "", user: "", state: "", backendType: "autovacuum worker")
        #expect(LockHolder.advice([vacuum]).isEmpty)
        var wait = LockWait(table: "tracks")
        #expect(
            observe(&wait, [psql], after: 2)
                == "waiting for a lock on tracks held by \(psql); going on when that transaction ends; "
                + LockHolder.advice([psql]))
        // The times grow at every look: the same holder, said again only after 30 s.
        var later = psql
        later.stateSeconds = 5
        #expect(observe(&wait, [later], after: 3) == nil)
        #expect(wait.status(at: start + .seconds(4)) == "for a lock on tracks held by \(later) (3s so far)")
    }

    @Test func saysSoWhenTheWaitStartsWhenTheHoldersChangeAndEvery30sButNotAtEveryLook() {
        var wait = LockWait(table: "tracks")
        #expect(observe(&wait, [], after: 1) == nil)
        #expect(wait.summary == nil, "no wait seen, nothing to record")
        #expect(
            observe(&wait, [run], after: 2)
                == "waiting for a lock on tracks held by \(run); going on when that transaction ends; "
                + LockHolder.advice([run]))
        #expect(observe(&wait, [run], after: 3) == nil)
        // Seen first at 2 s, one look after it began: waiting since 1 s.
        #expect(wait.status(at: start + .seconds(5)) == "for a lock on tracks held by \(run) (4s so far)")
        #expect(observe(&wait, [run], after: 31) == nil)
        #expect(
            observe(&wait, [run], after: 32)
                == "still waiting (31s) for a lock on tracks held by \(run); \(LockHolder.advice([run]))")
        #expect(
            observe(&wait, [run, psql], after: 33)?.hasPrefix("waiting for a lock on tracks held by \(run), \(psql)")
                == true)
        #expect(observe(&wait, [], after: 34) == nil)
        #expect(wait.status(at: start + .seconds(34)) == nil, "no longer waiting")
        #expect(wait.summary == "waited about 32s for a lock on tracks held by \(run), \(psql)")
    }
}

/// The watcher itself, against the test server behind a proxy that stops answering.
@Suite struct LockWaitWatcherTests {
    /// A database that goes quiet (a frozen server, a network gone silent) leaves the waiting
    /// session stuck without a word from anyone; the watcher's own look then gets no answer
    /// either, and it says so.
    @Test func saysSoWhenTheDatabaseStopsAnswering() async throws {
        let db = try await TestDatabase.make(tracks: 1)
        defer { Task { await db.close() } }
        let (proxy, capture, made) = try await Self.watcherThroughAProxy(of: db)
        var watcher = made
        watcher.interval = .milliseconds(100)
        // Long enough that a look slowed by a loaded machine (the whole suite on two cores) is
        // not taken for a database gone quiet: at 500 ms, one was.
        watcher.silentAfter = .seconds(5)
        let watching = Task { await watcher.run() }
        // Connected and looking (a stall during its connect would only time the connect out).
        #expect(
            try await eventually {
                try await db.connection.execute(
                    """
                    SELECT count(*) FROM pg_stat_activity
                    WHERE application_name = 'sluice-test watcher' AND query LIKE '%pg_blocking_pids%'
                    """
                ).scalar != .int(0)
            }, "the watcher looks through the proxy")
        #expect(!capture.records.contains { $0.level == .warning }, "nothing to say while it answers")

        proxy.setMode(.stall)
        #expect(
            try await eventually {
                capture.records.contains {
                    $0.level == .warning && $0.message.hasPrefix("the database has not answered for")
                }
            })
        // Its connection cut, the watcher ends: it never stops the apply it watches.
        await proxy.stop()
        watching.cancel()
        #expect(await watching.value == nil)
    }
}

extension LockWaitWatcherTests {
    /// A lock held by a prepared (two-phase) transaction has no session: `pg_blocking_pids`
    /// says 0 for it. The watcher names the transaction instead, and says that COMMIT PREPARED
    /// or ROLLBACK PREPARED ends it — not `pg_terminate_backend(0)`, which ends nothing.
    @Test func namesAPreparedTransactionThatHoldsTheLockAndHowToEndIt() async throws {
        let db = try await TestDatabase.make(tracks: 2)
        defer { Task { await db.close() } }
        let server = try await TestPostgres.shared()
        let gid = "orphan-\(db.connection.backendPID)"
        let preparer = try await server.connect(db.conninfo)
        _ = try await preparer.execute("BEGIN")
        _ = try await preparer.execute("UPDATE tracks SET spotify_popularity = spotify_popularity")
        _ = try await preparer.execute("PREPARE TRANSACTION '\(gid)'")
        await preparer.close()
        let waiter = try await server.connect(db.conninfo)
        let waiting = Task {
            _ = try await waiter.execute("BEGIN")
            _ = try await waiter.execute("LOCK TABLE tracks IN SHARE ROW EXCLUSIVE MODE")
            _ = try await waiter.execute("ROLLBACK")
        }
        var seen: [LockHolder] = []
        // Whatever it sees, the prepared transaction is rolled back before the test ends.
        let named = try? await eventually {
            seen = try await LockWaitWatcher.holders(of: waiter.backendPID, on: db.connection)
            return !seen.isEmpty
        }
        _ = try await db.connection.execute("ROLLBACK PREPARED '\(gid)'")
        try await waiting.value
        await waiter.close()
        #expect(named == true)
        let holder = try #require(seen.first)
        #expect(seen.count == 1 && holder.prepared?.gid == gid, "\(seen)")
        #expect(holder.description.hasPrefix("prepared transaction '\(gid)' (owner 'postgres', prepared at 20"))
        let advice = LockHolder.advice(seen)
        #expect(
            advice.contains("COMMIT PREPARED '\(gid)';") && advice.contains("ROLLBACK PREPARED '\(gid)';")
                && !advice.contains("pg_terminate_backend"), "\(advice)")
    }

    /// A watcher of `db`'s session that connects, as the password role, through a proxy in
    /// front of the test server, and logs to the capture.
    static func watcherThroughAProxy(
        of db: TestDatabase
    ) async throws -> (proxy: FaultProxy, capture: LogCapture, watcher: LockWaitWatcher) {
        let server = try await TestPostgres.shared()
        let proxy = FaultProxy(targetPort: try #require(server.port))
        let port = try proxy.start()
        let name = try #require(db.conninfo.split(separator: " ").first { $0.hasPrefix("dbname=") }).dropFirst(7)
        let database = try #require(
            server.tcpConninfo(
                database: String(name), user: TestPostgres.passwordRole, password: TestPostgres.passwordRolePassword))
        let capture = LogCapture()
        let watcher = LockWaitWatcher(
            database: PostgresSettings(
                url: Secret(try PostgresConnection.conninfo(database, setting: ["port": "\(port)"])),
                connectTimeout: 10, statementTimeout: nil),
            waiter: db.connection.backendPID, table: "tracks", applicationName: "sluice-test watcher",
            logger: capture.logger)
        return (proxy, capture, watcher)
    }

    /// A watcher that cannot open its own connection (a role's connection limit, a full server)
    /// leaves a lock wait unreported: it says so once, and the apply it watches goes on.
    @Test func saysSoWhenItCannotConnect() async throws {
        let db = try await TestDatabase.make(tracks: 1)
        defer { Task { await db.close() } }
        let (proxy, capture, made) = try await Self.watcherThroughAProxy(of: db)
        defer { Task { await proxy.stop() } }
        proxy.setMode(.refuse)
        var watcher = made
        watcher.interval = .milliseconds(10)
        #expect(await watcher.run() == nil)
        let warnings = capture.records.filter { $0.level == .warning }.map(\.message)
        #expect(warnings.count == 1, "\(warnings)")
        #expect(warnings.first?.hasPrefix("cannot watch for lock waits on tracks: a second connection failed") == true)
        #expect(warnings.allSatisfy { !$0.contains(TestPostgres.passwordRolePassword) })
    }
}
