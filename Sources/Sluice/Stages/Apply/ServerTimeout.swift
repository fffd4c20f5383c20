import SluiceApply
import SluicePlan
import SluicePostgres

/// A statement the server cancelled for one of its own limits, `lock_timeout` or
/// `statement_timeout`, which a production database often sets for a role or a database:
/// which one fired, where it was set, who holds the lock it waited for, and what to do.
///
/// Found on the session the server cancelled, still connected and out of its transaction:
/// `pg_settings` says where the session's value came from, `pg_locks` who holds the table now.
/// Sluice sets no `lock_timeout` of its own on the sessions that write (an apply, an undo): it
/// waits as the server lets it, saying for whom (``LockWaitWatcher``), since a limit set for
/// its role or database is there to keep a waiting lock from queueing other writers behind it.
struct ServerTimeout: Sendable {
    enum Setting: String, Sendable {
        case lock = "lock_timeout"
        case statement = "statement_timeout"
    }

    /// What the cancelled session wanted: which locks held by others are in its way.
    enum Waiting: Sendable {
        /// A write (an apply's or an undo's `SHARE ROW EXCLUSIVE` on the table, then its rows):
        /// any lock but a reader's.
        case write
        /// A read (a check before the run): only an `ACCESS EXCLUSIVE` lock (`ALTER TABLE`).
        case read

        var modes: [String] {
            switch self {
            case .write:
                [
                    "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
                    "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock",
                ]
            case .read: ["AccessExclusiveLock"]
            }
        }
    }

    var setting: Setting
    /// As `SHOW` gives it: `200ms`, `1min`.
    var value: String
    /// Where it was set, in words: "set for database 'shop' (ALTER DATABASE ... SET ...)".
    var origin: String
    /// The plan's connection set it (`statement_timeout`): a resume meets it again as it is.
    var setByPlan: Bool
    /// That connection's name in the plan, when known.
    var connection: String?
    /// The table it waited for, when known (a verify check's query may read any).
    var table: String?
    /// Who holds a lock on the table that the session would wait for, now.
    var holders: [LockHolder]
    /// With no ``table``: the tables of the database ``holders`` hold (quoted as SQL), one of
    /// which its query reads.
    var heldTables: [String] = []

    /// Which of the server's timeouts cancelled the statement of `error` (a ``BulkUpdateError``'s
    /// underlying error, or a ``PostgresError``), if one may have: ``classify(_:)``'s setting.
    static func setting(of error: any Error) -> Setting? { classify(error)?.setting }

    /// Which of the server's timeouts may have cancelled `error`'s statement, told by its
    /// SQLSTATE, and whether its words settle it (`certain`); when not, the setting must be on
    /// (non-zero) for the session (``find(_:on:table:waiting:database:named:)`` asks).
    ///
    /// 55P03 (lock_not_available) is a `lock_timeout`, or a `NOWAIT` that found a lock taken
    /// (which no statement of sluice's uses, and which a `READ ONLY` transaction's query cannot:
    /// it takes no row lock). 57014 (query_canceled) is a `statement_timeout`, or a cancel: Ctrl-C,
    /// `pg_cancel_backend`. The server says which in its message, in English unless `lc_messages`
    /// is set to another language: then the setting decides, on for a timeout.
    static func classify(_ error: any Error) -> (setting: Setting, certain: Bool)? {
        guard let postgres = (error as? BulkUpdateError)?.underlying ?? (error as? PostgresError),
            postgres.kind == .server
        else { return nil }
        let message = postgres.message
        switch postgres.sqlState {
        case "55P03":
            if message.contains("lock timeout") { return (.lock, true) }
            // "could not obtain lock on row in relation ...": a NOWAIT.
            if message.hasPrefix("could not obtain lock") { return nil }
            return (.lock, false)
        case "57014":
            if message.contains("statement timeout") { return (.statement, true) }
            // "canceling statement due to user request", "canceling autovacuum task", ...
            if message.hasPrefix("canceling ") { return nil }
            return (.statement, false)
        default:
            return nil
        }
    }

    /// The timeout that cancelled `error`'s statement on `connection`, or `nil` when it is no
    /// timeout (or the server cannot be asked: then the error says what it said).
    ///
    /// `table`, the table it waited for, when known; else (a query's) the tables of this database
    /// someone holds a lock on that `waiting` would wait for, with who holds them: once the wait
    /// ended, which of them the statement waited for is no longer shown.
    static func find(
        _ error: any Error, on connection: PostgresConnection, table: String?, waiting: Waiting,
        database: PostgresSettings, named name: String? = nil
    ) async -> ServerTimeout? {
        // A run cancelled (Ctrl-C) cancels its statements too: that is no timeout.
        guard let (setting, certain) = classify(error), !Task.isCancelled else { return nil }
        do {
            // Out of any transaction the error left aborted (an apply's is rolled back already).
            await connection.rollbackQuietly()
            let row = try await connection.execute(
                """
                SELECT current_setting(name), source, coalesce(sourcefile || ':' || sourceline, ''),
                    current_user::text, current_database()::text, setting::bigint <> 0
                FROM pg_settings WHERE name = $1
                """, [.string(setting.rawValue)]
            ).rows.first
            // In another language than English, a cancel with the setting off is no timeout.
            guard certain || row?[5].boolValue == true else { return nil }
            let source = row?[1].text ?? ""
            let byPlan = setting == .statement && source == "session" && (database.statementTimeout ?? 0) > 0
            let modes = waiting.modes
            let quoted = try table.map { table throws(PostgresError) in try PostgresConnection.quoteIdentifier(table) }
            let holders = try await LockWaitWatcher.holders(ofLocksOn: quoted, in: modes, on: connection)
            let held =
                table == nil && !holders.isEmpty
                ? try await LockWaitWatcher.tables(lockedIn: modes, on: connection) : []
            return ServerTimeout(
                setting: setting, value: row?[0].text ?? "?",
                origin: origin(
                    of: setting, source: source, file: row?[2].text ?? "", role: row?[3].text ?? "",
                    database: row?[4].text ?? "", byPlan: byPlan),
                setByPlan: byPlan, connection: name, table: table, holders: holders, heldTables: held)
        } catch {
            connection.logger.debug("could not look up the timeout", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Runs `body`, a write on `connection`; when one of the server's timeouts ended it (having
    /// changed nothing), its ``BulkUpdateError`` says which, where it was set, who holds the
    /// lock, and what to do, `then` last (what runs it again), and is resumable when running it
    /// again as it is may go through.
    static func explaining<T>(
        on connection: PostgresConnection, table: String, database: PostgresSettings, named name: String? = nil,
        then: String? = nil, _ body: () async throws -> T
    ) async throws -> T {
        do {
            return try await body()
        } catch var error as BulkUpdateError where error.changedNothing {
            guard
                let timeout = await find(
                    error, on: connection, table: table, waiting: .write, database: database, named: name)
            else { throw error }
            error.note = [timeout.explanation, then].compactMap { $0 }.joined(separator: "; ")
            error.mayPassLater = timeout.isResumable
            throw error
        }
    }

    /// Runs `body`, sluice's own check before a run, on `connection`; when one of the server's
    /// timeouts ends its statement, fails naming that statement (`what`, and with `showingSQL` its
    /// SQL), which timeout, where it was set and who holds the lock (it is no fault of the plan),
    /// and `when` it was found (with `ownStatement`, saying it is sluice's statement, not the plan's).
    static func naming<T>(
        _ what: String, showingSQL: Bool = true, when: String = "checked before the run started: nothing ran",
        ownStatement: Bool = true, on connection: PostgresConnection, table: String?,
        database: PostgresSettings, stage: String, connection name: String, _ body: () async throws -> T
    ) async throws -> T {
        do {
            return try await body()
        } catch let error as PostgresError where setting(of: error) != nil {
            guard
                let timeout = await find(
                    error, on: connection, table: table, waiting: .read, database: database, named: name)
            else { throw error }
            let statement = (showingSQL ? error.statement : nil).map {
                " (\($0.split(whereSeparator: \.isNewline).joined(separator: " ")))"
            }
            var failure = StageError(
                stage: stage,
                "\(what)\(statement ?? "") was cancelled (ERROR \(error.sqlState ?? ""): \(error.message)): "
                    + "\(timeout.explanation) "
                    + "(\(when)\(ownStatement ? "; sluice's own statement, not an error in the plan" : ""))")
            failure.resumable = timeout.isResumable
            throw failure
        }
    }

    /// Where a setting came from, from `pg_settings.source`, in words with the statement that sets it.
    static func origin(
        of setting: Setting, source: String, file: String, role: String, database: String, byPlan: Bool
    ) -> String {
        let name = setting.rawValue
        let quotedRole = (try? PostgresConnection.quoteIdentifierPart(role)) ?? role
        let quotedDatabase = (try? PostgresConnection.quoteIdentifierPart(database)) ?? database
        switch source {
        case "database":
            return "set for database '\(database)' (ALTER DATABASE \(quotedDatabase) SET \(name))"
        case "user":
            return "set for role '\(role)' (ALTER ROLE \(quotedRole) SET \(name))"
        case "database user":
            return "set for role '\(role)' in database '\(database)' "
                + "(ALTER ROLE \(quotedRole) IN DATABASE \(quotedDatabase) SET \(name))"
        case "client":
            return "set when sluice connected (PGOPTIONS, or options in the database URL)"
        case "configuration file":
            return "set in the server's configuration" + (file.isEmpty ? " (postgresql.conf)" : " (\(file))")
        case "session":
            return byPlan ? "set by the plan (its connection's statement_timeout)" : "set in sluice's session"
        case "default":
            return "the server's default"
        default:
            return "set on the server (\(source))"
        }
    }

    /// Whether running it again as it is may go through: a lock wait may (the holder ends),
    /// a statement the plan's own limit cut short meets it again.
    var isResumable: Bool { setting == .lock || !holders.isEmpty || !setByPlan }

    /// "the server's lock_timeout (200ms, set for ...) cancelled it while it waited for a lock on
    /// tracks, held now by ...; to go on: ...".
    var explanation: String {
        let list = holders.map(\.description).joined(separator: ", ")
        var out = "the server's \(setting.rawValue) (\(value), \(origin)) cancelled it"
        // A query's table is not known: the tables someone holds so that a read of them waits.
        let held =
            "\(heldTables.joined(separator: ", ")) \(heldTables.count == 1 ? "is" : "are") held now, so that a read "
            + "waits, by \(list)"
        switch (setting, table) {
        case (.lock, let table?):
            out +=
                " while it waited for a lock on \(table)"
                + (holders.isEmpty ? ", which no other session holds now" : ", held now by \(list)")
        case (.lock, nil):
            out += " while it waited for a lock on a table its query reads" + (holders.isEmpty ? "" : "; \(held)")
        case (.statement, let table?):
            if !holders.isEmpty { out += "; a lock on \(table) it may have waited for is held now by \(list)" }
        case (.statement, nil):
            if !holders.isEmpty { out += "; of the tables its query may have waited for, \(held)" }
        }
        var advice: [String] = []
        let holderAdvice = LockHolder.advice(holders)
        if !holderAdvice.isEmpty { advice.append(holderAdvice) }
        switch setting {
        case .lock:
            advice.append(
                "to let sluice wait longer, raise it for sluice's sessions alone: PGOPTIONS='-c lock_timeout=10min' "
                    + "before the command (0 waits as long as the lock is held; other writers queue behind a "
                    + "waiting lock)")
        case .statement where setByPlan:
            advice.append(
                "to give it longer, raise the plan's statement_timeout (--set connections.\(connection ?? "NAME").statement_timeout=10min)"
            )
        case .statement:
            advice.append(
                "to give it longer, raise it for sluice's sessions alone: PGOPTIONS='-c statement_timeout=10min' "
                    + "before the command")
        }
        // A command the advice gives ends with its own semicolon.
        return advice.reduce(out) { $0 + ($0.hasSuffix(";") ? " " : "; ") + $1 }
    }
}
