import Dispatch
import Logging
import SluiceCore
import Synchronization

/// One connection to PostgreSQL through libpq.
///
/// Every blocking libpq call runs on the connection's own serial executor (a dispatch queue),
/// never on the cooperative pool; the closures you pass (`stream`'s body, `copyIn`'s producer,
/// `transaction`'s body) run on your executor in between. Cancelling the calling task sends
/// `PQcancel` to the server and the call throws `CancellationError`.
///
/// A connection runs one operation at a time: starting a second one while a `stream` or a
/// `copyIn` is in progress (for example from inside its closure), or using a ``CopyWriter``
/// after its `copyIn` returned, throws a ``PostgresError`` of kind `.client` saying what the
/// connection is busy with, rather than corrupting the protocol. The refused call changes
/// nothing: the operation in progress carries on and the connection stays usable. After
/// ``close()`` every call throws kind `.connectionLost`. The connection always speaks UTF-8
/// (`client_encoding` is forced), so do not `SET client_encoding`.
public final class PostgresConnection: Sendable {
    let core: LibPQConnection
    /// The one part of the libpq connection used off its executor: by cancellation handlers.
    private let cancel: PQCancel?
    public let logger: Logger
    /// The server process serving this connection (`pg_backend_pid()`), for
    /// `pg_cancel_backend`/`pg_terminate_backend` and for reading `pg_stat_activity`.
    public let backendPID: Int
    /// The server's version as an integer, e.g. `150012` for 15.12.
    public let serverVersion: Int
    /// What ``openAnother()`` connects with; held in memory only, never printed.
    private let conninfo: String
    private let connectTimeout: Duration
    private let applicationName: String

    private init(
        core: LibPQConnection, session: LibPQConnection.Session, conninfo: String, connectTimeout: Duration,
        applicationName: String, logger: Logger
    ) {
        self.core = core
        self.cancel = session.cancel
        self.conninfo = conninfo
        self.connectTimeout = connectTimeout
        self.applicationName = applicationName
        self.logger = logger
        self.backendPID = session.backendPID
        self.serverVersion = session.serverVersion
    }

    /// Opens a connection.
    ///
    /// - Parameters:
    ///   - conninfo: a URI (`postgres://user@host:5432/db?sslmode=require`) or a key=value string
    ///     (`host=/tmp dbname=app`); empty means all defaults. `PG*` environment variables and
    ///     `~/.pgpass` apply exactly as in psql.
    ///   - connectTimeout: how long to wait for the server, unless the conninfo or
    ///     `PGCONNECT_TIMEOUT` sets `connect_timeout` (libpq's rule of at least 2 s applies then).
    ///   - applicationName: the session's `application_name` (what `pg_stat_activity` shows)
    ///     unless the conninfo or `PGAPPNAME` sets one.
    ///   - logger: receives server notices (debug) and statement logs (trace).
    /// - Throws: ``PostgresError`` of kind `.connect`, naming host, port, database and user and
    ///   never the password; `CancellationError` when the task is cancelled.
    public static func connect(
        _ conninfo: String, connectTimeout: Duration = .seconds(10), applicationName: String = "sluice",
        logger: Logger
    ) async throws -> PostgresConnection {
        let core = LibPQConnection(label: "sluice.postgres")
        let flag = CancelFlag()
        let session = try await withTaskCancellationHandler {
            try await core.connect(
                conninfo, timeout: connectTimeout, applicationName: applicationName, cancelled: flag, logger: logger)
        } onCancel: {
            flag.set()
        }
        try Task.checkCancellation()
        let connection = PostgresConnection(
            core: core, session: session, conninfo: conninfo, connectTimeout: connectTimeout,
            applicationName: applicationName, logger: logger)
        do {
            _ = try await connection.execute(pinnedFormats)
        } catch {
            await connection.close()
            throw error
        }
        logger.debug(
            "connected to PostgreSQL",
            metadata: [
                "db.conninfo": "\(PostgresError.redactConninfo(conninfo))",
                "db.backend_pid": "\(connection.backendPID)",
            ])
        return connection
    }

    /// Sets how the session prints values, whatever the database, the role or `PGOPTIONS` set:
    /// every value sluice reads as text (prior values kept for an undo, a review's cells, a
    /// query's rows) must read back as the same value on any other connection. `DateStyle` ISO
    /// (the output only: the order a date such as `01/02/2024` is read in stays the server's),
    /// whose times carry a numeric offset (`SQL` style prints `IST`, which input reads as
    /// Israel's); `extra_float_digits` 3, every double exactly (below 1, digits are cut);
    /// `IntervalStyle` postgres, which input reads the same under every style.
    static let pinnedFormats = "SET DateStyle = ISO; SET extra_float_digits = 3; SET IntervalStyle = postgres"

    /// A new connection to the same server with the same settings (conninfo, connect timeout,
    /// application name, logger), e.g. to ask what became of a transaction after this connection
    /// was lost.
    public func openAnother() async throws -> PostgresConnection {
        try await Self.connect(
            conninfo, connectTimeout: connectTimeout, applicationName: applicationName, logger: logger)
    }

    /// Runs one statement and returns all of its rows.
    ///
    /// With parameters (`$1`, `$2`, ... sent as text, `.null` as NULL) the SQL must be one
    /// statement; without, several statements separated by `;` may run and the last result is
    /// returned. For large results use ``stream(_:_:batchSize:_:)``.
    public func execute(_ sql: String, _ params: [Value] = []) async throws -> PostgresResult {
        logger.trace("execute", metadata: ["db.statement": "\(PostgresError.truncate(sql))"])
        return try await cancellable {
            try await core.execute(sql, params, cancellable: true)
        }
    }

    /// The names of the columns `sql` (one statement) would return, from the server's analysis of
    /// it: nothing runs, no row is read. A statement the server refuses throws its error, its
    /// `position` counted in `sql`.
    public func describe(_ sql: String) async throws -> [String] {
        try await describeColumns(sql).map(\.name)
    }

    /// A column a statement would return: its name and its type's OID.
    public struct DescribedColumn: Sendable, Hashable {
        public var name: String
        public var typeOID: UInt32
    }

    /// ``describe(_:)`` with each column's type.
    public func describeColumns(_ sql: String) async throws -> [DescribedColumn] {
        logger.trace("describe", metadata: ["db.statement": "\(PostgresError.truncate(sql))"])
        return try await cancellable {
            try await core.describe(sql)
        }
    }

    /// Runs a query and hands its rows to `body` in batches of at most `batchSize` rows, reading
    /// them in libpq's single-row mode: memory holds two batches, never the whole result.
    ///
    /// `body` runs on the caller's executor, not the connection's, while the connection reads
    /// the next batch, so reading and handling the rows overlap; a slow body simply leaves rows
    /// waiting in the socket (the server blocks, which is the backpressure). No batch is
    /// delivered for an empty result. If `body` throws or the task is cancelled, the query is
    /// cancelled on the server and the rest of its rows are discarded.
    /// - Returns: the number of rows streamed.
    public func stream(
        _ sql: String, _ params: [Value] = [], batchSize: Int, _ body: (Batch) async throws -> Void
    ) async throws -> Int {
        logger.trace("stream", metadata: ["db.statement": "\(PostgresError.truncate(sql))"])
        return try await streamChunks(
            batchSize: batchSize, start: { try await $0.startStream(sql, params) },
            next: { try await $0.nextRows(of: $1, limit: $2) }, body)
    }

    /// ``stream(_:_:batchSize:_:)`` for a result wanted as text, sent as `COPY (sql) TO STDOUT`:
    /// every value is `.string`, as the server prints it, or `.null`. Per row it costs the client
    /// a line to split instead of a result of its own: for large results.
    /// - Parameter columns: the names the batches carry (COPY sends none).
    public func streamText(
        _ sql: String, columns: [String] = [], batchSize: Int, _ body: (Batch) async throws -> Void
    ) async throws -> Int {
        logger.trace("stream text", metadata: ["db.statement": "\(PostgresError.truncate(sql))"])
        return try await streamChunks(
            batchSize: batchSize, start: { try await $0.startTextStream(sql, columns: columns) },
            next: { try await $0.nextTextRows(of: $1, limit: $2) }, body)
    }

    /// Reads a stream started by `start` in chunks from `next`, handing each to `body` while the
    /// connection reads the next.
    private func streamChunks(
        batchSize: Int, start: (LibPQConnection) async throws -> LibPQConnection.OperationID,
        next:
            @escaping @Sendable (LibPQConnection, LibPQConnection.OperationID, Int) async throws ->
            LibPQConnection.Chunk,
        _ body: (Batch) async throws -> Void
    ) async throws -> Int {
        precondition(batchSize > 0, "batchSize must be positive")
        return try await cancellable {
            let id = try await start(core)
            var total = 0
            do {
                var chunk = try await next(core, id, batchSize)
                while true {
                    // The next rows are read on the connection's queue while `body` handles these.
                    let done = chunk.done
                    async let following = done ? nil : next(core, id, batchSize)
                    if !chunk.rows.isEmpty {
                        total += chunk.rows.count
                        try await body(Batch(columns: chunk.columns, rows: chunk.rows))
                    }
                    guard let following = try await following else { return total }
                    try Task.checkCancellation()
                    chunk = following
                }
            } catch {
                await core.abandon(id)
                throw error
            }
        }
    }

    /// Runs `COPY ... FROM STDIN` with rows from `produce`.
    ///
    /// The writer escapes values and sends them in buffers of about 64 KiB. With `binary` (the
    /// encoding of the COPY's column types) the rows go in binary format, which the server
    /// stores without parsing; the rows it declines follow in a text-format COPY of `sql`, and a
    /// server error's `line N` (``PostgresError/context``) counts the rows as `produce` wrote
    /// them, whichever COPY sent the row. If `produce` throws, the COPY is ended with an error
    /// (`PQputCopyEnd`) so the server discards it, and the error is rethrown. (When the text
    /// COPY of declined rows fails, the binary rows stay copied unless a transaction is open:
    /// copy in one, or into a table dropped on failure.)
    /// - Parameter sql: `COPY table (columns) FROM STDIN`, in text format: the binary COPY adds
    ///   `(FORMAT binary)`.
    /// - Returns: the number of rows the server copied.
    public func copyIn(
        _ sql: String, binary: BinaryCopyEncoding? = nil, _ produce: (CopyWriter) async throws -> Void
    ) async throws -> Int {
        logger.trace("copy in", metadata: ["db.statement": "\(PostgresError.truncate(sql))"])
        return try await cancellable {
            let copy = try await core.startCopyIn(binary == nil ? sql : Self.binaryCopy(sql))
            let writer = CopyWriter(core: core, copy: copy.id, columnCount: copy.columnCount, binary: binary)
            let copied: Int
            do {
                do {
                    try await produce(writer)
                    try await writer.finish()
                } catch {
                    // Ends the COPY so the server discards it (nothing to do if a failed send
                    // already ended it).
                    await core.abandon(copy.id)
                    throw error
                }
                copied = try await core.endCopy(copy.id)
            } catch let error as PostgresError {
                throw error.renumberingCopyLine { writer.declined.row(ofBinaryLine: $0) }
            }
            let declined = writer.declined
            guard !declined.isEmpty else { return copied }
            writer.spool?.invalidate("\(declined.rows.count) rows went in text format, after the rest")
            return copied + (try await declined.copy(into: self, sql))
        }
    }

    /// `sql` (`COPY ... FROM STDIN`) in binary format.
    static func binaryCopy(_ sql: String) -> String { sql + " (FORMAT binary)" }

    /// Runs `sql` with `text`, rows already in COPY text format.
    func copyText(_ sql: String, _ text: [UInt8]) async throws -> Int {
        let copy = try await core.startCopyIn(sql)
        do {
            var offset = 0
            while offset < text.count {
                let end = min(offset + CopyWriter.flushThreshold, text.count)
                _ = try await core.putCopyData(Array(text[offset..<end]), to: copy.id)
                offset = end
            }
        } catch {
            await core.abandon(copy.id)
            throw error
        }
        return try await core.endCopy(copy.id)
    }

    /// Runs `body` inside `BEGIN`/`COMMIT`; any error thrown rolls the transaction back and is
    /// rethrown. Also fails when `COMMIT` turns into a rollback because a statement inside failed
    /// and the error was swallowed.
    public func transaction<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        _ = try await execute("BEGIN")
        let value: T
        do {
            value = try await body(self)
        } catch {
            await rollbackQuietly()
            throw error
        }
        let commit: PostgresResult
        do {
            commit = try await execute("COMMIT")
        } catch {
            await rollbackQuietly()
            throw error
        }
        if commit.commandTag == "ROLLBACK" {
            throw PostgresError(
                kind: .client, message: "the transaction was rolled back because a statement in it failed")
        }
        return value
    }

    /// `ROLLBACK`, not cancellable and ignoring errors: for the way out of a failure, where the
    /// task may be cancelled, the connection may be gone and the original error is what matters.
    public func rollbackQuietly() async {
        _ = try? await core.execute("ROLLBACK", [], cancellable: false)
    }

    /// Closes the connection; later operations throw. Also happens when the last reference goes.
    public func close() async {
        await core.close()
    }

    /// How long a cancelled operation may take to end before the connection is cut: a server that
    /// answers neither the statement nor the cancel must not hold Ctrl-C (or anything else that
    /// cancels) for ever. A server that is alive ends a cancelled statement in milliseconds.
    public static let cancelGrace: Duration = .seconds(10)

    /// Wires task cancellation to `PQcancel` and reports a query the server cancelled for that
    /// reason as `CancellationError`. When the operation has not ended ``cancelGrace`` after the
    /// cancel, the connection's socket is shut down: it then ends with the connection lost (and
    /// the server rolls back whatever it had not committed).
    func cancellable<T>(_ operation: () async throws -> T) async throws -> T {
        try Task.checkCancellation()
        let inFlight = InFlight()
        defer { inFlight.end() }
        do {
            return try await withTaskCancellationHandler(operation: operation) { [cancel] in
                // libpq's cancel waits for the server to answer it, for ever from one that answers
                // nothing (a stopped postmaster, a host dropping packets): never on the thread
                // that cancels, which may be the signal handler's, which must see a second Ctrl-C.
                if let cancel { DispatchQueue.global().async { cancel.request() } }
                inFlight.after(Self.cancelGrace) { cancel?.cut() }
            }
        } catch let error as PostgresError where error.isQueryCanceled && Task.isCancelled {
            throw CancellationError()
        }
    }

    /// One cancellable operation: whether it is still in flight, under a lock that a delayed cut
    /// holds while it cuts, so that it never touches a connection the operation has left.
    private final class InFlight: Sendable {
        private let ended = Mutex(false)

        func end() { ended.withLock { $0 = true } }

        /// Runs `cut` after `delay` on a thread of its own, unless the operation ended by then.
        func after(_ delay: Duration, _ cut: @escaping @Sendable () -> Void) {
            DispatchQueue.global().asyncAfter(deadline: .now() + delay.seconds) { [self] in
                ended.withLock { ended in if !ended { cut() } }
            }
        }
    }
}
