import Foundation
import Logging
import SluiceCore
import SluicePipeline
import SluicePlan
import SluicePostgres

/// Reads rows from PostgreSQL: the pipeline's source.
///
/// The result is read in full into the stage's own spool first (single-row mode, `batch_size`
/// rows in memory at a time, ``StageOutput/hold(_:)``), the connection is closed, and only
/// then are the rows sent downstream (``StageOutput/sendHeld()``). Streaming straight into
/// the pipeline would keep the query running, and with it its snapshot, for as long as the
/// slowest stage takes to pull rows (hours behind a paced HTTP fetch): that pins `xmin`,
/// holds back vacuum and keeps a backend busy. Holding costs one local read of the result
/// (the spool is written anyway, for replays) and makes the read a short, consistent
/// `REPEATABLE READ, READ ONLY` transaction (the count and the rows agree).
public struct QueryStage: Stage {
    public let name: String
    public var kind: String { "query" }
    public let parameters: Value
    public let settings: QuerySettings
    let database: PostgresSettings
    /// Where the plan writes the SQL: a statement the server refuses is reported there, at the
    /// character it names (`plan.yaml:12:19: error: stages.query.sql: ERROR 42601: ...`).
    public var sqlLocation: SourceLocation?

    public init(name: String, settings: QuerySettings, database: PostgresSettings, parameters: Value) {
        self.name = name
        self.settings = settings
        self.database = database
        self.parameters = parameters
    }

    public func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        let started = ContinuousClock.now
        let total: Int
        do {
            total = try await DatabaseConnector.with(database, for: context) { connection in
                // A lock the server's lock_timeout gave up on is no error in the plan's SQL:
                // which setting, where it was set, who holds a table the query reads.
                try await ServerTimeout.naming(
                    "its query (\(sqlLocation.map { "\($0): " } ?? "")stages.\(name).sql)", showingSQL: false,
                    when: "while it read the rows, before any was sent on", ownStatement: false,
                    on: connection, table: nil, database: database, stage: name, connection: settings.connection
                ) {
                    try await connection.transaction { connection in
                        _ = try await connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                        if settings.countFirst { try await count(on: connection, context: context) }
                        return try await connection.stream(
                            settings.sql, settings.params, batchSize: settings.batchSize
                        ) { batch in
                            try refuseSecrets(in: batch)
                            try await output.hold(batch)
                        }
                    }
                }
            }
        } catch let error as PostgresError where error.kind == .server && !error.isTransient {
            throw located(error)
        }
        context.counters.set("rows", total)
        context.counters.set("read_ms", Int((ContinuousClock.now - started).seconds * 1000))
        context.logger.info("query read", metadata: ["query.rows": "\(total)"])
        try await output.sendHeld()
    }

    /// Has the server plan the SQL with its params, reading no row (`LIMIT 0`, in a read-only
    /// transaction): a statement it refuses fails located in the plan, as the run would. A server
    /// that cannot be reached is not this stage's to report (``DatabaseCheck`` names it).
    public func check(_ context: StageContext) async throws {
        var database = database
        database.connectTimeout = min(database.connectTimeout, 2)
        let sql = Self.trimmed(settings.sql)
        let prefix = "SELECT * FROM ("
        do {
            try await DatabaseConnector.with(database, for: context) { connection in
                // A lock the server's lock_timeout gave up on is no error in the plan's SQL.
                try await ServerTimeout.naming(
                    "sluice's check of the query's SQL (planned, not run)", showingSQL: false, on: connection,
                    table: nil, database: database, stage: name, connection: settings.connection
                ) {
                    try await connection.transaction { connection in
                        _ = try await connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                        _ = try await connection.execute(
                            prefix + sql + "\n) AS sluice_check LIMIT 0", settings.params)
                    }
                }
            }
        } catch let error as StageError {
            throw error
        } catch let error as PostgresError where error.kind == .server && !error.isTransient {
            var shown = error
            shown.statement = sql
            shown.position = error.position.map { max(1, $0 - prefix.count) }
            throw located(shown)
        } catch {
            context.logger.debug("query check skipped", metadata: ["error": "\(error)"])
        }
    }

    /// `error`, the server's refusal of the plan's SQL, located where the plan writes it (the
    /// server counts characters from 1 into the statement, which is the plan's text).
    private func located(_ error: PostgresError) -> any Error {
        guard let sqlLocation else { return error }
        let at = error.position.map { sqlLocation.advanced(intoValueBy: max(0, $0 - 1)) } ?? sqlLocation
        return SQLError(location: at.description, stage: name, underlying: Self.asWritten(error, at: sqlLocation))
    }

    /// `error` quoting the SQL as the plan writes it, `${VAR}` and all, its caret moved to match:
    /// the plan's line and column, and a secret's length told by neither.
    static func asWritten(_ error: PostgresError, at sqlLocation: SourceLocation) -> PostgresError {
        guard !sqlLocation.substitutions.isEmpty, let statement = error.statement else { return error }
        var shown = error
        shown.statement = sqlLocation.writtenText(of: statement)
        shown.position = error.position.map { sqlLocation.writtenOffset(max(0, $0 - 1)) + 1 }
        return shown
    }

    /// Refuses `batch` when a row holds the value of a secret variable the SQL (or its params)
    /// is written with (`SELECT '${API_TOKEN}' AS t`): held, it would be written to the spool,
    /// then the CSVs, the review and the table, as data. A secret the SQL uses where it stays
    /// in the database (`WHERE`, `pgp_sym_decrypt(col, '${DB_PASSPHRASE}')`) passes. Checked
    /// before the batch is held, so no row holding it is written.
    func refuseSecrets(in batch: Batch) throws {
        guard !settings.secretValues.isEmpty else { return }
        for row in batch.rows {
            guard let slot = row.firstIndex(where: { Self.holds(settings.secretValues, in: $0) }) else { continue }
            throw SecretInRows(
                location: sqlLocation?.description, stage: name, field: batch.columns[slot],
                variables: settings.secretVariables)
        }
    }

    /// Whether `value` is, or holds (in a JSON list or object), one of `secrets`: the whole text
    /// for one of 4 characters or more, anywhere in it for one of 8 or more (which no ordinary
    /// word is mistaken for).
    static func holds(_ secrets: [String], in value: Value) -> Bool {
        switch value {
        case .string(let text):
            return secrets.contains { $0.count >= 4 && (text == $0 || ($0.count >= 8 && text.contains($0))) }
        case .array(let items): return items.contains { holds(secrets, in: $0) }
        case .object(let members):
            return members.contains { holds(secrets, in: .string($0.key)) || holds(secrets, in: $0.value) }
        default: return false
        }
    }

    /// A row the query returned holds a secret variable's value: refused before it is written.
    public struct SecretInRows: Error, CustomStringConvertible, Sendable {
        public var location: String?
        public var stage: String
        public var field: String
        public var variables: [String]

        public var description: String {
            let named = variables.isEmpty ? "a secret variable" : variables.map { "${\($0)}" }.joined(separator: ", ")
            return (location.map { "\($0): error: " } ?? "") + "stages.\(stage).sql: the query returns the value of "
                + "\(named), a secret its SQL is written with, in column '\(field)': it would be written to the run's "
                + "files (the spool, CSVs, the review) as data, and an apply would write it to the table; nothing "
                + "holding it was written (use the secret only where it stays in the database, such as a WHERE "
                + "clause or a function's argument, not in a column the query returns)"
        }
    }

    /// The server refused the plan's SQL: its error, located in the plan.
    public struct SQLError: Error, CustomStringConvertible, Sendable {
        public var location: String
        public var stage: String
        public var underlying: PostgresError

        public var description: String { "\(location): error: stages.\(stage).sql: \(underlying)" }
    }

    /// Counts the rows first, for progress. A failure here is left to the query itself to
    /// report, so the error's position points into the SQL as the user wrote it.
    private func count(on connection: PostgresConnection, context: StageContext) async throws {
        _ = try await connection.execute("SAVEPOINT sluice_count")
        do {
            let count = try await connection.execute(
                "SELECT count(*) FROM (\(Self.trimmed(settings.sql))) AS sluice_count", settings.params
            ).scalar
            if let n = count.intValue { context.expectTotal(rows: Int(n)) }
            _ = try await connection.execute("RELEASE SAVEPOINT sluice_count")
        } catch let error as PostgresError where error.kind == .server {
            _ = try await connection.execute("ROLLBACK TO SAVEPOINT sluice_count")
        }
    }

    /// The SQL without trailing semicolons and spaces, so it can be wrapped as a subquery.
    static func trimmed(_ sql: String) -> String {
        var s = Substring(sql)
        while let last = s.last, last == ";" || last.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
