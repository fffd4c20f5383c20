import Foundation
import Logging
import SluiceCore
import SluicePipeline
import SluicePlan
import SluicePostgres

/// Says so, naming who holds the lock, when a session waits for a lock another session holds,
/// instead of letting a run hang silently.
///
/// Apply takes `SHARE ROW EXCLUSIVE` on its table, so a second apply (another run of the same
/// plan, an undo) or any open writing transaction makes it wait; waiting is right (two updates
/// of one table never interleave), silence is not. The watcher looks from a connection of its
/// own — the waiting one is busy — through `pg_blocking_pids`, first after ``interval`` (an apply
/// shorter than that never opens it), then every ``interval``. It logs a warning when the wait
/// starts, when the holders change and every ``repeatEvery``, and returns a one-line summary
/// for the run's notices.
///
/// A look that gets no answer for ``silentAfter`` means the database, or the way to it, has
/// stopped answering (a frozen server, a network gone quiet): the waiting session is then stuck
/// too, and the watcher says so, every ``repeatEvery``, until the answer comes.
struct LockWaitWatcher: Sendable {
    let database: PostgresSettings
    /// The server process of the session that may wait.
    let waiter: Int
    /// The table the waiting session works on, for the messages.
    let table: String
    /// The waiting session's `application_name`, also used for the watcher's own session.
    let applicationName: String
    let logger: Logger
    var interval: Duration = .seconds(1)
    var repeatEvery: Duration = .seconds(30)
    var silentAfter: Duration = .seconds(15)
    /// Told after each look what the session waits for (``LockWait/status(at:)``), `nil` once
    /// it does not: for the stage's progress line.
    var onLook: @Sendable (String?) -> Void = { _ in }

    /// Watches until cancelled.
    /// - Returns: "waited about 12s for a lock on tracks held by ...", or `nil` when the session
    ///   never waited (or the watcher could not look).
    func run() async -> String? {
        do {
            try await Task.sleep(for: interval)
        } catch {
            return nil
        }
        let connection: PostgresConnection
        do {
            connection = try await DatabaseConnector.connect(
                database, logger: logger, applicationName: applicationName)
        } catch {
            // The apply goes on regardless, but a wait for a lock would now go unreported:
            // say so (a role's connection limit, a full server), unless the apply has ended.
            if !Task.isCancelled {
                let message =
                    "cannot watch for lock waits on \(table): a second connection failed (\(error)); the apply goes "
                    + "on, but if it waits for another session's lock nothing will say so"
                logger.warning("\(message)", metadata: ["db.table": "\(table)"])
            }
            return nil
        }
        let summary: String?
        do {
            summary = try await watch(on: connection)
        } catch {
            // The watcher's own session failed: the apply goes on regardless.
            logger.debug("lock watch ended", metadata: ["error": "\(error)"])
            summary = nil
        }
        await connection.close()
        return summary
    }

    /// The last summary is kept across polls so that cancellation, the normal end, returns it.
    private func watch(on connection: PostgresConnection) async throws -> String? {
        var wait = LockWait(table: table)
        let clock = ContinuousClock()
        while !Task.isCancelled {
            let holders: [LockHolder]
            do {
                holders = try await warningWhileSilent { [waiter] in try await Self.holders(of: waiter, on: connection)
                }
            } catch {
                return wait.summary
            }
            // It was waiting one interval already, probably: that is when the watcher first looks.
            if let message = wait.observe(holders, at: clock.now, interval: interval, repeatEvery: repeatEvery) {
                logger.warning("\(message)", metadata: ["db.table": "\(table)"])
            }
            onLook(wait.status(at: clock.now))
            do {
                try await Task.sleep(for: interval)
            } catch {
                return wait.summary
            }
        }
        return wait.summary
    }

    /// `look`'s answer; while there is none after ``silentAfter``, and every ``repeatEvery``
    /// then, a warning that the database is not answering.
    private func warningWhileSilent<T: Sendable>(_ look: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await look() }
            group.addTask { [logger, silentAfter, repeatEvery, table] in
                let clock = ContinuousClock()
                let start = clock.now
                try await Task.sleep(for: silentAfter)
                while true {
                    let waited = LockWait.seconds(clock.now - start)
                    let message =
                        "the database has not answered for \(waited) (asked on a second connection, watching the "
                        + "session that writes \(table)): the server may be stopped or out of reach; still waiting "
                        + "(Ctrl-C stops the run)"
                    logger.warning("\(message)", metadata: ["db.table": "\(table)"])
                    try await Task.sleep(for: repeatEvery)
                }
            }
            defer { group.cancelAll() }
            while let answer = try await group.next() {
                if let answer { return answer }
            }
            throw CancellationError()
        }
    }

    /// The sessions `pid` waits for, as `pg_stat_activity` shows them.
    static func holders(of pid: Int, on connection: PostgresConnection) async throws -> [LockHolder] {
        let sessions = try await sessions(
            in: "SELECT unnest(pg_blocking_pids($1::int))", [.int(Int64(pid))], on: connection)
        // A prepared (two-phase) transaction holds its locks with no session at all:
        // pg_blocking_pids says 0 for it, which names nothing and which no pg_terminate_backend ends.
        guard sessions.contains(where: { $0.pid == 0 }) else { return sessions }
        return try await sessions.filter { $0.pid != 0 } + preparedHolders(of: pid, on: connection)
    }

    /// The sessions and prepared transactions other than this one that hold a lock on `table`
    /// (quoted as SQL; `nil`: on any table of this database but a temporary one) in one of
    /// `modes` (`RowExclusiveLock`, ...), as `pg_locks` shows them now: after a wait for them
    /// ended (a `lock_timeout`), who is still in the way.
    static func holders(
        ofLocksOn table: String?, in modes: [String], on connection: PostgresConnection
    ) async throws -> [LockHolder] {
        let held = try held(table, in: modes)
        let sessions = try await sessions(
            in: "SELECT DISTINCT h.pid FROM pg_locks AS h WHERE \(held) AND h.pid <> pg_backend_pid()", [],
            on: connection)
        return try await sessions
            + preparedHolders(holding: "pg_locks AS h", where: "\(held) AND h.pid IS NULL", [], on: connection)
    }

    /// The tables of this database (but temporary ones), quoted as SQL, that sessions other than
    /// this one or prepared transactions hold a lock on in one of `modes`, now.
    static func tables(lockedIn modes: [String], on connection: PostgresConnection) async throws -> [String] {
        try await connection.execute(
            """
            SELECT DISTINCT h.relation::regclass::text FROM pg_locks AS h
            WHERE \(try held(nil, in: modes)) AND h.pid IS DISTINCT FROM pg_backend_pid() ORDER BY 1
            """
        ).rows.compactMap { $0[0].text }
    }

    /// The condition on a row `h` of `pg_locks` that it is a lock held on `table` (or on any
    /// table but a temporary one) of this database in one of `modes`.
    private static func held(_ table: String?, in modes: [String]) throws -> String {
        let list = try modes.map { mode throws(PostgresError) in try PostgresConnection.quoteLiteral(mode) }
        let relation =
            try table.map { "h.relation = \(try PostgresConnection.quoteLiteral($0))::regclass" }
            ?? "h.relation IN (SELECT c.oid FROM pg_class AS c WHERE c.relpersistence <> 't')"
        return "h.locktype = 'relation' AND h.granted AND \(relation) "
            + "AND h.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            + "AND h.mode IN (\(list.joined(separator: ", ")))"
    }

    /// The sessions whose server pids `pids` (a query of one column) gives, as `pg_stat_activity`
    /// shows them.
    private static func sessions(
        in pids: String, _ parameters: [Value], on connection: PostgresConnection
    ) async throws -> [LockHolder] {
        // Of its statement only the first word (UPDATE, LOCK, ALTER): the rest may hold data or
        // a password. A session of another role shows only some of this without pg_read_all_stats.
        let result = try await connection.execute(
            """
            SELECT h.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''), coalesce(a.state, ''),
                coalesce(a.backend_type, 'client backend'),
                coalesce(host(a.client_addr), CASE WHEN a.client_port = -1 THEN 'local' ELSE '' END),
                floor(extract(epoch FROM clock_timestamp() - a.xact_start))::bigint,
                floor(extract(epoch FROM clock_timestamp() - a.state_change))::bigint,
                upper(substring(a.query FROM '^\\s*([A-Za-z]+)'))
            FROM (\(pids)) AS h(pid) LEFT JOIN pg_stat_activity AS a ON a.pid = h.pid
            ORDER BY h.pid
            """, parameters)
        return result.rows.map { row in
            LockHolder(
                pid: Int(row[0].intValue ?? 0), applicationName: row[1].text ?? "", user: row[2].text ?? "",
                state: row[3].text ?? "", backendType: row[4].text ?? "client backend", client: row[5].text ?? "",
                transactionSeconds: row[6].intValue.map(Int.init), stateSeconds: row[7].intValue.map(Int.init),
                statement: row[8].text ?? "")
        }
    }

    /// The prepared transactions holding a lock on what `pid` waits for, from `pg_locks` (where
    /// their rows have no pid, and share a virtual transaction with the lock on their own
    /// transaction id) and `pg_prepared_xacts`.
    static func preparedHolders(of pid: Int, on connection: PostgresConnection) async throws -> [LockHolder] {
        try await preparedHolders(
            holding: """
                pg_locks AS w
                JOIN pg_locks AS h ON h.granted AND h.pid IS NULL AND h.locktype = w.locktype
                    AND h.database IS NOT DISTINCT FROM w.database AND h.relation IS NOT DISTINCT FROM w.relation
                    AND h.page IS NOT DISTINCT FROM w.page AND h.tuple IS NOT DISTINCT FROM w.tuple
                    AND h.virtualxid IS NOT DISTINCT FROM w.virtualxid
                    AND h.transactionid IS NOT DISTINCT FROM w.transactionid
                    AND h.classid IS NOT DISTINCT FROM w.classid AND h.objid IS NOT DISTINCT FROM w.objid
                    AND h.objsubid IS NOT DISTINCT FROM w.objsubid
                """, where: "w.pid = $1::int AND NOT w.granted", [.int(Int64(pid))], on: connection)
    }

    /// The prepared transactions of the lock rows `h` that `locks` (a FROM clause) and
    /// `condition` give.
    private static func preparedHolders(
        holding locks: String, where condition: String, _ parameters: [Value], on connection: PostgresConnection
    ) async throws -> [LockHolder] {
        let result = try await connection.execute(
            """
            SELECT DISTINCT p.gid, p.owner::text, p.database::text,
                to_char(p.prepared AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
                floor(extract(epoch FROM clock_timestamp() - p.prepared))::bigint
            FROM \(locks)
            JOIN pg_locks AS x ON x.locktype = 'transactionid' AND x.pid IS NULL
                AND x.virtualtransaction = h.virtualtransaction
            JOIN pg_prepared_xacts AS p ON p.transaction = x.transactionid
            WHERE \(condition)
            ORDER BY 1
            """, parameters)
        return result.rows.map { row in
            LockHolder(
                pid: 0, applicationName: "", user: row[1].text ?? "", state: "", backendType: "prepared transaction",
                transactionSeconds: row[4].intValue.map(Int.init),
                prepared: LockHolder.Prepared(
                    gid: row[0].text ?? "", database: row[2].text ?? "", preparedAt: row[3].text ?? ""))
        }
    }

    /// Runs `body` on `connection` while a watcher reports any lock wait of its session.
    /// - Returns: what `body` returned, and the watcher's summary of the wait, if there was one.
    static func watching<T>(
        _ connection: PostgresConnection, table: String, database: PostgresSettings, applicationName: String,
        logger: Logger, progress: StageProgress? = nil, _ body: () async throws -> T
    ) async throws -> (result: T, wait: String?) {
        var configured = LockWaitWatcher(
            database: database, waiter: connection.backendPID, table: table, applicationName: applicationName,
            logger: logger)
        if let progress { configured.onLook = { progress.setWaiting($0) } }
        let watcher = configured
        // Not waiting once the body is done, whatever the watcher last saw.
        defer { progress?.setWaiting(nil) }
        return try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask { await watcher.run() }
            let result: T
            do {
                result = try await body()
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
            let wait = try await group.next() ?? nil
            return (result, wait)
        }
    }
}

/// One session holding a lock another waits for, as `pg_stat_activity` shows it.
struct LockHolder: Sendable, Hashable, CustomStringConvertible {
    /// The server process serving the session (not a process of the client's machine): what
    /// `pg_terminate_backend` takes.
    var pid: Int
    var applicationName: String
    var user: String
    /// `active`, `idle in transaction`, ...; empty when the server does not show it to us.
    var state: String
    /// `client backend`, `autovacuum worker`, ... (`pg_stat_activity.backend_type`).
    var backendType = "client backend"
    /// The client's address, `local` for a Unix socket; empty when not shown.
    var client = ""
    /// How long its transaction has been open, and in its state, in seconds (when shown).
    var transactionSeconds: Int?
    var stateSeconds: Int?
    /// The first word of its current or last statement (`UPDATE`, `LOCK`), when shown.
    var statement = ""
    /// Set for a prepared (two-phase) transaction, which no session holds (``pid`` is 0).
    var prepared: Prepared?

    /// A transaction of `PREPARE TRANSACTION`, as `pg_prepared_xacts` shows it; it outlives its
    /// session and only `COMMIT PREPARED` or `ROLLBACK PREPARED` ends it.
    struct Prepared: Sendable, Hashable {
        var gid: String
        /// The database it was prepared in, where `COMMIT PREPARED` must run.
        var database: String
        var preparedAt: String
    }

    /// Another sluice names itself `sluice RUN-ID STAGE` (``DatabaseConnector/applicationName(run:stage:)``).
    var sluiceRun: (run: String, stage: String)? {
        let parts = applicationName.split(separator: " ", maxSplits: 2)
        guard parts.count == 3, parts[0] == "sluice" else { return nil }
        return (String(parts[1]), String(parts[2]))
    }

    /// The session and what it is doing, without the times that grow at every look.
    var identity: [String] { [String(pid), applicationName, user, state, backendType, client, prepared?.gid ?? ""] }

    /// Neither sluice nor the server's own: a session someone can commit, roll back or end.
    var isForeignClient: Bool { sluiceRun == nil && backendType == "client backend" }

    var description: String {
        if let prepared {
            var details = ["owner '\(user)'", "prepared at \(prepared.preparedAt)"]
            if let transactionSeconds { details.append("\(Self.duration(transactionSeconds)) ago") }
            details.append("in database '\(prepared.database)'")
            return "prepared transaction '\(prepared.gid)' (\(details.joined(separator: ", ")))"
        }
        // A sluice undo names its session `sluice RUN undo`.
        if let (run, stage) = sluiceRun {
            return stage == "undo"
                ? "sluice undo of run \(run) (server pid \(pid))"
                : "sluice run \(run) (stage '\(stage)', server pid \(pid))"
        }
        // The server's own: it cancels itself for a lock it blocks after deadlock_timeout (1 s by
        // default), unless it runs to prevent transaction id wraparound.
        if backendType == "autovacuum worker" {
            return "autovacuum (server pid \(pid); it usually gives way within a second)"
        }
        var details: [String] = []
        if backendType != "client backend" { details.append(backendType) }
        if !user.isEmpty { details.append("user '\(user)'") }
        if client == "local" {
            details.append("over a local socket")
        } else if !client.isEmpty {
            details.append("from \(client)")
        }
        if !state.isEmpty {
            details.append(state + (stateSeconds.map { " for \(Self.duration($0))" } ?? ""))
        } else if backendType == "client backend" {
            // The server shows another role's sessions only so far.
            details.append("what it is doing not shown to this role without pg_read_all_stats")
        }
        if let transactionSeconds { details.append("its transaction open \(Self.duration(transactionSeconds))") }
        if !statement.isEmpty { details.append("last statement \(statement)") }
        details.append("server pid \(pid)")
        let who = applicationName.isEmpty ? "another session" : "a session of '\(applicationName)'"
        return "\(who) (\(details.joined(separator: ", ")))"
    }

    /// What a person can do about `holders`: the command that ends a foreign session's
    /// transaction, the run to look at for sluice's own; empty for the server's own.
    static func advice(_ holders: [LockHolder]) -> String {
        var advice: [String] = []
        let foreign = holders.filter(\.isForeignClient).map(\.pid)
        if !foreign.isEmpty {
            let ends = foreign.map { "SELECT pg_terminate_backend(\($0));" }.joined(separator: " ")
            advice.append(
                "to go on sooner, commit or roll back in \(foreign.count == 1 ? "that session" : "those sessions"), or "
                    + "end \(foreign.count == 1 ? "it" : "them") (as its user or a superuser; what it did in its "
                    + "transaction is rolled back): \(ends)")
        }
        let prepared = holders.compactMap(\.prepared)
        if !prepared.isEmpty {
            // Its session is gone: only these end it, run in its database by its owner or a superuser.
            let literals = prepared.map { (try? PostgresConnection.quoteLiteral($0.gid)) ?? "'\($0.gid)'" }
            let commits = literals.map { "COMMIT PREPARED \($0);" }.joined(separator: " ")
            let rollbacks = literals.map { "ROLLBACK PREPARED \($0);" }.joined(separator: " ")
            let databases = Set(prepared.map(\.database)).sorted().map { "'\($0)'" }.joined(separator: ", ")
            let one = prepared.count == 1
            advice.append(
                "a prepared transaction outlives its session and waits for someone to finish it: to go on, "
                    + "finish \(one ? "it" : "them") (in database \(databases), as \(one ? "its" : "their") owner or a "
                    + "superuser) with \(commits) or undo what \(one ? "it" : "they") did with \(rollbacks)")
        }
        let runs = holders.compactMap(\.sluiceRun?.run)
        if let run = runs.first {
            advice.append(
                "to see what \(runs.count == 1 ? "that run is" : "those runs are") doing: sluice runs show \(run)")
        }
        return advice.joined(separator: "; ")
    }

    /// `45s`, `3m12s`, `2h05m`.
    static func duration(_ seconds: Int) -> String {
        let seconds = max(0, seconds)
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(String(format: "%02d", seconds % 60))s" }
        return "\(seconds / 3600)h\(String(format: "%02d", seconds % 3600 / 60))m"
    }
}

/// What the watcher has seen of one wait; decides what to say (pure, for tests).
struct LockWait {
    let table: String
    private(set) var started: ContinuousClock.Instant?
    private(set) var holders: [LockHolder] = []
    private var lastReport: ContinuousClock.Instant?
    private var longest: Duration = .zero

    init(table: String) {
        self.table = table
    }

    /// Takes in one look at the holders; returns the line to log, if one is due.
    mutating func observe(
        _ current: [LockHolder], at now: ContinuousClock.Instant, interval: Duration, repeatEvery: Duration
    ) -> String? {
        guard !current.isEmpty else {
            started = nil
            return nil
        }
        let start = started ?? now - interval
        started = start
        longest = max(longest, now - start)
        // Who holds it, not for how long so far (which every look changes).
        let changed = current.map(\.identity) != holders.map(\.identity)
        holders = current
        if !changed, let lastReport, now - lastReport < repeatEvery { return nil }
        lastReport = now
        let list = current.map(\.description).joined(separator: ", ")
        let advice = LockHolder.advice(current)
        let then = advice.isEmpty ? "" : "; \(advice)"
        if changed {
            return "waiting for a lock on \(table) held by \(list); going on when that transaction ends\(then)"
        }
        return "still waiting (\(Self.seconds(now - start))) for a lock on \(table) held by \(list)\(then)"
    }

    /// "for a lock on tracks held by ... (12s so far)" while the session waits, else `nil`.
    func status(at now: ContinuousClock.Instant) -> String? {
        guard let started, !holders.isEmpty else { return nil }
        let list = holders.map(\.description).joined(separator: ", ")
        return "for a lock on \(table) held by \(list) (\(Self.seconds(now - started)) so far)"
    }

    /// "waited about 12s for a lock on tracks held by ...", once a wait was seen.
    var summary: String? {
        guard !holders.isEmpty else { return nil }
        let list = holders.map(\.description).joined(separator: ", ")
        return "waited about \(Self.seconds(longest)) for a lock on \(table) held by \(list)"
    }

    static func seconds(_ duration: Duration) -> String {
        "\(duration.wholeSecondsUp)s"
    }
}
