internal import CLibPQ
import Logging
import SluiceCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The actor that runs every blocking libpq call of one connection on its own serial queue.
///
/// The public ``PostgresConnection`` calls into it once per step (send, next batch of rows, one
/// COPY buffer) and runs caller closures in between on the caller's executor, so a slow consumer
/// never holds the queue and a blocking `PQgetResult` never holds a cooperative thread.
actor LibPQConnection {
    private let executor: DispatchQueueExecutor
    /// What the connection is doing; every operation and every step of one checks it first.
    private var state = State.unconnected
    private var lastOperationID = 0

    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    init(label: String) {
        self.executor = DispatchQueueExecutor(label: label)
    }

    // MARK: Connecting

    /// What the public connection keeps of an open connection: all it may touch off the executor.
    struct Session: Sendable {
        let cancel: PQCancel?
        let backendPID: Int
        let serverVersion: Int
    }

    /// Connects with `PQconnectStartParams`/`PQconnectPoll` so that the deadline and task
    /// cancellation are ours to enforce (libpq ignores `connect_timeout` in this mode).
    func connect(
        _ conninfo: String, timeout: Duration, applicationName: String, cancelled: CancelFlag, logger: Logger
    ) throws(PostgresError) -> Session {
        guard case .unconnected = state else {
            throw PostgresError(kind: .client, message: "a connection connects only once")
        }
        // Keywords are processed in order; the expanded conninfo overrides what comes before it,
        // and client_encoding comes after so we always decode UTF-8.
        let keywords = ["fallback_application_name", "dbname", "client_encoding"]
        let values = [applicationName, conninfo, "UTF8"]
        let started: OpaquePointer? = withCStringArrays(keywords, values) { k, v in
            PQconnectStartParams(k, v, 1)
        }
        guard let conn = started else {
            throw PostgresError(kind: .connect, message: "could not connect to PostgreSQL: out of memory")
        }
        let deadline = ContinuousClock.now + effectiveTimeout(conn, default: timeout)
        var status = PGRES_POLLING_WRITING
        while PQstatus(conn) != CONNECTION_BAD {
            if status == PGRES_POLLING_OK { break }
            if status == PGRES_POLLING_FAILED { break }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero {
                let error = connectError(conn, conninfo: conninfo, reason: "timed out after \(timeout.seconds)s")
                PQfinish(conn)
                throw error
            }
            if cancelled.isSet {
                PQfinish(conn)
                throw PostgresError(kind: .connect, message: "connecting to PostgreSQL was cancelled")
            }
            let slice = min(remaining, .milliseconds(100))
            var pfd = pollfd(
                fd: PQsocket(conn), events: Int16(status == PGRES_POLLING_READING ? POLLIN : POLLOUT), revents: 0)
            let ready = poll(&pfd, 1, Int32(slice.milliseconds))
            if ready > 0 { status = PQconnectPoll(conn) }
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let error = connectError(conn, conninfo: conninfo, reason: nil)
            PQfinish(conn)
            throw error
        }
        let handle = PQHandle(conn: conn, executor: executor, logger: logger)
        state = .idle(handle)
        return Session(
            cancel: handle.cancel, backendPID: Int(PQbackendPID(conn)), serverVersion: Int(PQserverVersion(conn)))
    }

    /// The user's `connect_timeout` (conninfo or `PGCONNECT_TIMEOUT`) if given, else ours.
    private func effectiveTimeout(_ conn: OpaquePointer, default timeout: Duration) -> Duration {
        guard let options = PQconninfo(conn) else { return timeout }
        for option in ConninfoOptions.take(options) where option.keyword == "connect_timeout" {
            // libpq treats anything under 2 s as 2 s.
            if let seconds = option.value.flatMap({ Int($0) }), seconds > 0 { return .seconds(max(seconds, 2)) }
        }
        return timeout
    }

    private func connectError(_ conn: OpaquePointer, conninfo: String, reason: String?) -> PostgresError {
        func text(_ p: UnsafeMutablePointer<CChar>?) -> String? {
            guard let p, p.pointee != 0 else { return nil }
            return String(cString: p)
        }
        var target: [String] = []
        if let host = text(PQhost(conn)) { target.append("host=\(host)") }
        if let port = text(PQport(conn)) { target.append("port=\(port)") }
        if let db = text(PQdb(conn)) { target.append("dbname=\(db)") }
        if let user = text(PQuser(conn)) { target.append("user=\(user)") }
        var libpqMessage = text(PQerrorMessage(conn)) ?? ""
        // Given up on mid-attempt (a timeout), libpq's message ends `... failed:` with no reason.
        while libpqMessage.last?.isWhitespace == true || libpqMessage.last == ":" { libpqMessage.removeLast() }
        let misreading = PostgresConnection.misreading(of: conninfo)
        // What libpq made of a misread URL (its host, port, database, its complaint), or of an
        // unquoted value with a space (`missing "=" after "..."`), is pieces of the password,
        // some too short to mask: none of it is shown; the hint says why. An unknown option's
        // complaint names the option, and stays.
        let hidden =
            misreading != nil
            && (conninfo.contains("://") || !conninfo.contains("=") || libpqMessage.contains(#"missing "=" after"#))
        if hidden { (target, libpqMessage) = ([], "") }
        // A conninfo libpq could not parse names no host: no empty "()".
        var message = "could not connect to PostgreSQL" + (target.isEmpty ? "" : " (\(target.joined(separator: " ")))")
        if let reason { message += ": \(reason)" }
        if !libpqMessage.isEmpty { message += ": \(libpqMessage)" }
        if hidden { message += ": libpq misread the connection settings (not shown: see the hint)" }
        var error = PostgresError(kind: .connect, message: PostgresError.scrub(message, conninfo: conninfo))
        if PQconnectionNeedsPassword(conn) != 0 {
            error.hint = "the server asks for a password: put it in the URL, PGPASSWORD or ~/.pgpass"
        }
        if let misreading { error.hint = misreading }
        return error
    }

    // MARK: Operations

    /// The connection, when it is open and idle; otherwise why `action` cannot start.
    private func idleConnection(for action: String) throws(PostgresError) -> OpaquePointer {
        guard case .idle(let handle) = state else { throw state.refusal(action) }
        guard PQstatus(handle.conn) == CONNECTION_OK else {
            throw PostgresError(kind: .connectionLost, message: "the connection to the server was lost")
        }
        return handle.conn
    }

    private func nextOperationID() -> OperationID {
        lastOperationID += 1
        return OperationID(value: lastOperationID)
    }

    /// Cancels the statement just sent if the task was cancelled before the cancellation handler
    /// could reach a running statement.
    private func cancelIfTaskCancelled() {
        if Task.isCancelled { state.handle?.cancel?.request() }
    }

    private func send(
        _ conn: OpaquePointer, _ sql: String, _ params: [Value], forceExtended: Bool
    ) throws(PostgresError) {
        let sent: Int32
        if params.isEmpty && !forceExtended {
            // The simple protocol: allows several statements in one string.
            sent = PQsendQuery(conn, sql)
        } else {
            sent = withParameterArray(params) { values in
                PQsendQueryParams(conn, sql, Int32(params.count), nil, values, nil, nil, 0)
            }
        }
        guard sent == 1 else { throw clientError(conn, sql: sql) }
    }

    /// Runs a statement to its end. The state stays `.idle` throughout: nothing else runs on the
    /// actor until this returns, since it never suspends.
    func execute(_ sql: String, _ params: [Value], cancellable: Bool) throws(PostgresError) -> PostgresResult {
        let conn = try idleConnection(for: "run a statement")
        try send(conn, sql, params, forceExtended: false)
        if cancellable { cancelIfTaskCancelled() }
        var last: PostgresResult?
        var firstError: PostgresError?
        while let result = PQgetResult(conn) {
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            switch status {
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                let reader = ResultReader(result)
                last = PostgresResult(
                    columns: reader.columnNames, rows: reader.allRows(),
                    affectedRows: Int(String(cString: PQcmdTuples(result))) ?? 0,
                    commandTag: String(cString: PQcmdStatus(result)))
            case PGRES_COPY_IN:
                firstError = firstError ?? PostgresError(kind: .client, message: "use copyIn for COPY FROM STDIN")
                PQputCopyEnd(conn, "COPY FROM STDIN is not supported by execute")
            case PGRES_COPY_OUT:
                var buffer: UnsafeMutablePointer<CChar>?
                while PQgetCopyData(conn, &buffer, 0) > 0 { PQfreemem(buffer) }
                firstError = firstError ?? PostgresError(kind: .client, message: "COPY TO STDOUT is not supported")
            default:
                firstError = firstError ?? serverError(conn, result, sql: sql)
            }
        }
        if let firstError { throw firstError }
        guard PQstatus(conn) == CONNECTION_OK else { throw clientError(conn, sql: sql) }
        return last ?? PostgresResult(columns: [], rows: [], affectedRows: 0, commandTag: "")
    }

    /// The names of the columns `sql` returns, as the server's analysis of it finds them: it is
    /// parsed as the unnamed prepared statement (which the next one replaces), then described;
    /// nothing runs. One statement, no parameters.
    func describe(_ sql: String) throws(PostgresError) -> [PostgresConnection.DescribedColumn] {
        let conn = try idleConnection(for: "describe a statement")
        guard PQsendPrepare(conn, "", sql, 0, nil) == 1 else { throw clientError(conn, sql: sql) }
        if let error = drain(conn, sql: sql) { throw error }
        guard PQsendDescribePrepared(conn, "") == 1 else { throw clientError(conn, sql: sql) }
        var columns: [PostgresConnection.DescribedColumn] = []
        var firstError: PostgresError?
        while let result = PQgetResult(conn) {
            defer { PQclear(result) }
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                let reader = ResultReader(result)
                columns = zip(reader.columnNames, 0..<reader.columnCount).map { name, index in
                    PostgresConnection.DescribedColumn(name: name, typeOID: UInt32(PQftype(result, index)))
                }
            } else {
                firstError = firstError ?? serverError(conn, result, sql: sql)
            }
        }
        if let firstError { throw firstError }
        guard PQstatus(conn) == CONNECTION_OK else { throw clientError(conn, sql: sql) }
        return columns
    }

    // MARK: Streaming

    struct Chunk: Sendable {
        var columns: [String]
        var rows: [[Value]]
        var done: Bool
    }

    /// Sends a query in single-row mode; `nextRows` reads it.
    func startStream(_ sql: String, _ params: [Value]) throws(PostgresError) -> OperationID {
        let conn = try idleConnection(for: "start a streaming query")
        try send(conn, sql, params, forceExtended: true)
        guard PQsetSingleRowMode(conn) == 1 else {
            drain(conn, sql: sql)
            throw PostgresError(kind: .client, message: "could not enter single-row mode", statement: sql)
        }
        guard let handle = state.handle else { preconditionFailure("idle without a handle") }
        let id = nextOperationID()
        state = .streaming(handle, Stream(id: id, sql: sql))
        cancelIfTaskCancelled()
        return id
    }

    /// Reads up to `limit` rows of stream `id`; each `PQgetResult` in single-row mode holds one
    /// row, so memory is bounded by `limit` whatever the query returns. Refused unless that
    /// stream is running: `PQgetResult` in the middle of a COPY would wreck it.
    func nextRows(of id: OperationID, limit: Int) throws(PostgresError) -> Chunk {
        guard case .streaming(let handle, var stream) = state, stream.id == id, !stream.copyOut else {
            throw state.refusal("read the rows of a streaming query", expected: .stream(id))
        }
        let conn = handle.conn
        var rows: [[Value]] = []
        rows.reserveCapacity(limit)
        var reader: ResultReader?
        while rows.count < limit {
            guard let result = PQgetResult(conn) else {
                state = .idle(handle)
                guard PQstatus(conn) == CONNECTION_OK else { throw clientError(conn, sql: stream.sql) }
                return Chunk(columns: stream.columns ?? [], rows: rows, done: true)
            }
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_SINGLE_TUPLE:
                // Each row is its own PGresult, but the decoders only need working out once.
                if reader == nil { reader = ResultReader(result) }
                let rowReader = ResultReader(result, like: reader!)
                if stream.columns == nil { stream.columns = rowReader.columnNames }
                rows.append(rowReader.row(0))
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK:
                if stream.columns == nil { stream.columns = ResultReader(result).columnNames }
            default:
                let error = serverError(conn, result, sql: stream.sql)
                drain(conn, sql: stream.sql)
                state = .idle(handle)
                throw error
            }
        }
        state = .streaming(handle, stream)
        return Chunk(columns: stream.columns ?? [], rows: rows, done: false)
    }

    /// Sends `COPY (sql) TO STDOUT`; `nextTextRows` reads it.
    func startTextStream(_ sql: String, columns: [String]) throws(PostgresError) -> OperationID {
        let conn = try idleConnection(for: "start a streaming query")
        let statement = "COPY (\(sql)) TO STDOUT"
        try send(conn, statement, [], forceExtended: false)
        guard let handle = state.handle else { preconditionFailure("idle without a handle") }
        let id = nextOperationID()
        state = .streaming(handle, Stream(id: id, sql: statement, columns: columns, copyOut: true))
        cancelIfTaskCancelled()
        guard let result = PQgetResult(conn) else {
            state = .idle(handle)
            throw clientError(conn, sql: statement)
        }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COPY_OUT else {
            let error = serverError(conn, result, sql: statement)
            drain(conn, sql: statement)
            state = .idle(handle)
            throw error
        }
        return id
    }

    /// Reads up to `limit` rows of text stream `id`, each line of the COPY one row of `.string`
    /// values (`.null` for `\N`). Refused unless that stream is running.
    func nextTextRows(of id: OperationID, limit: Int) throws(PostgresError) -> Chunk {
        guard case .streaming(let handle, let stream) = state, stream.id == id, stream.copyOut else {
            throw state.refusal("read the rows of a streaming query", expected: .stream(id))
        }
        let conn = handle.conn
        var rows: [[Value]] = []
        rows.reserveCapacity(limit)
        // Rows are as wide as the names given, or else as the first row read.
        var width = stream.columns?.count ?? 0
        while rows.count < limit {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(conn, &buffer, 0)
            if length > 0, let buffer {
                let line = UnsafeRawBufferPointer(start: buffer, count: Int(length)).bindMemory(to: UInt8.self)
                rows.append(CopyText.row(line, width: width))
                width = max(width, rows[rows.count - 1].count)
                PQfreemem(buffer)
                continue
            }
            // -1: the COPY is over and its result (success or error) follows; -2: it failed.
            let firstError = drain(conn, sql: stream.sql)
            state = .idle(handle)
            if let firstError { throw firstError }
            guard length == -1, PQstatus(conn) == CONNECTION_OK else { throw clientError(conn, sql: stream.sql) }
            return Chunk(columns: stream.columns ?? [], rows: rows, done: true)
        }
        return Chunk(columns: stream.columns ?? [], rows: rows, done: false)
    }

    /// Ends stream or COPY `id` after its caller gave up on it: cancels the query on the server
    /// (or aborts the COPY, which the server then discards) and reads what is left, so the
    /// connection can be used again. Does nothing when `id` is no longer running.
    func abandon(_ id: OperationID) {
        switch state {
        case .streaming(let handle, let stream) where stream.id == id:
            handle.cancel?.request()
            drain(handle.conn, sql: stream.sql)
            state = .idle(handle)
        case .copyingIn(let handle, let copy) where copy.id == id:
            PQputCopyEnd(handle.conn, "aborted by the client")
            drain(handle.conn, sql: copy.sql)
            state = .idle(handle)
        default:
            return
        }
    }

    // MARK: COPY FROM STDIN

    /// Starts `COPY ... FROM STDIN`; returns the COPY and how many columns each row must have.
    func startCopyIn(_ sql: String) throws(PostgresError) -> (id: OperationID, columnCount: Int) {
        let conn = try idleConnection(for: "start COPY FROM STDIN")
        try send(conn, sql, [], forceExtended: false)
        cancelIfTaskCancelled()
        guard let result = PQgetResult(conn) else { throw clientError(conn, sql: sql) }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COPY_IN else {
            let error =
                PQresultStatus(result) == PGRES_COMMAND_OK || PQresultStatus(result) == PGRES_TUPLES_OK
                ? PostgresError(kind: .client, message: "not a COPY FROM STDIN statement", statement: sql)
                : serverError(conn, result, sql: sql)
            drain(conn, sql: sql)
            throw error
        }
        guard let handle = state.handle else { preconditionFailure("idle without a handle") }
        let id = nextOperationID()
        state = .copyingIn(handle, Copy(id: id, sql: sql))
        return (id, Int(PQnfields(result)))
    }

    /// Sends one buffer of COPY `id`'s text; returns it emptied (capacity kept) for reuse.
    func putCopyData(_ data: [UInt8], to id: OperationID) throws(PostgresError) -> [UInt8] {
        guard case .copyingIn(let handle, let copy) = state, copy.id == id else {
            throw state.refusal("send COPY data", expected: .copy(id))
        }
        let conn = handle.conn
        let sent = data.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(conn, $0.baseAddress, Int32($0.count)) }
        }
        if sent != 1 {
            // Prefer what the server said (e.g. "terminating connection due to administrator
            // command") over libpq's "connection lost".
            let fallback = clientError(conn, sql: copy.sql)
            let serverSide = drain(conn, sql: copy.sql)
            state = .idle(handle)
            throw serverSide ?? fallback
        }
        var emptied = data
        emptied.removeAll(keepingCapacity: true)
        return emptied
    }

    /// Ends COPY `id` successfully; returns the rows copied. (`abandon` ends it with an error.)
    func endCopy(_ id: OperationID) throws(PostgresError) -> Int {
        guard case .copyingIn(let handle, let copy) = state, copy.id == id else {
            throw state.refusal("end COPY", expected: .copy(id))
        }
        let conn = handle.conn
        // Whatever happens next, the COPY is over.
        state = .idle(handle)
        guard PQputCopyEnd(conn, nil) == 1 else {
            let fallback = clientError(conn, sql: copy.sql)
            throw drain(conn, sql: copy.sql) ?? fallback
        }
        var rows = 0
        var firstError: PostgresError?
        while let result = PQgetResult(conn) {
            defer { PQclear(result) }
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                rows = Int(String(cString: PQcmdTuples(result))) ?? 0
            } else if firstError == nil {
                firstError = serverError(conn, result, sql: copy.sql)
            }
        }
        if let firstError { throw firstError }
        guard PQstatus(conn) == CONNECTION_OK else { throw clientError(conn, sql: copy.sql) }
        return rows
    }

    // MARK: Closing

    /// Frees the connection, whatever it was doing; every later call is refused.
    func close() {
        state.handle?.finish()
        state = .closed
    }

    // MARK: Helpers

    /// Reads and discards results until libpq says the statement is over; returns the first error.
    @discardableResult
    private func drain(_ conn: OpaquePointer, sql: String) -> PostgresError? {
        var firstError: PostgresError?
        while let result = PQgetResult(conn) {
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
                firstError = firstError ?? serverError(conn, result, sql: sql)
            case PGRES_COPY_IN:
                PQputCopyEnd(conn, "aborted by the client")
            case PGRES_COPY_OUT:
                var buffer: UnsafeMutablePointer<CChar>?
                while PQgetCopyData(conn, &buffer, 0) > 0 { PQfreemem(buffer) }
            default:
                break
            }
        }
        return firstError
    }

    private func serverError(_ conn: OpaquePointer, _ result: OpaquePointer, sql: String) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let p = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: p)
        }
        let severity = field("V") ?? field("S")
        let sqlState = field("C")
        // A FATAL error (e.g. 57P01 from pg_terminate_backend) arrives just before the server
        // closes the socket, while libpq may still think the connection is fine.
        let lost =
            PQstatus(conn) == CONNECTION_BAD || severity == "FATAL" || severity == "PANIC"
            // (An ERROR 08P01, a protocol violation such as parameters the SQL does not take,
            // leaves the connection as it was.)
            || (sqlState?.hasPrefix("08") == true && !(sqlState == "08P01" && severity == "ERROR"))
        var message = field("M") ?? ""
        if message.isEmpty {
            message = String(cString: PQresultErrorMessage(result))
            while message.last?.isWhitespace == true { message.removeLast() }
        }
        if message.isEmpty { message = "unknown error" }
        var error = PostgresError(
            kind: lost ? .connectionLost : .server, message: message, sqlState: sqlState, severity: severity,
            detail: field("D"), hint: field("H"), position: field("P").flatMap { Int($0) }, statement: sql)
        error.constraint = field("n")
        error.schema = field("s")
        error.table = field("t")
        error.column = field("c")
        error.dataType = field("d")
        error.context = field("W")
        if lost && error.sqlState == nil { error.severity = nil }
        return error
    }

    private func clientError(_ conn: OpaquePointer, sql: String) -> PostgresError {
        var message = String(cString: PQerrorMessage(conn))
        while message.last?.isWhitespace == true { message.removeLast() }
        if message.isEmpty { message = "libpq reported an error without a message" }
        let lost = PQstatus(conn) == CONNECTION_BAD
        return PostgresError(kind: lost ? .connectionLost : .client, message: message, statement: sql)
    }
}

extension ResultReader {
    /// A reader for another result of the same statement, reusing the column decoders.
    init(_ result: OpaquePointer, like other: ResultReader) {
        self.result = result
        self.columnCount = other.columnCount
        self.decodings = other.decodings
    }
}

/// Set from a cancellation handler, read by the connect loop between polls.
final class CancelFlag: Sendable {
    private let flag = Atomic(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

/// Calls `body` with NULL-terminated C string arrays for `PQconnectStartParams`.
private func withCStringArrays<T>(
    _ a: [String], _ b: [String],
    _ body: (UnsafePointer<UnsafePointer<CChar>?>, UnsafePointer<UnsafePointer<CChar>?>) -> T
) -> T {
    let ca: [UnsafeMutablePointer<CChar>?] = a.map { strdup($0) }
    let cb: [UnsafeMutablePointer<CChar>?] = b.map { strdup($0) }
    defer {
        ca.forEach { free($0) }
        cb.forEach { free($0) }
    }
    let pa: [UnsafePointer<CChar>?] = ca.map { $0.map { UnsafePointer($0) } } + [nil]
    let pb: [UnsafePointer<CChar>?] = cb.map { $0.map { UnsafePointer($0) } } + [nil]
    return pa.withUnsafeBufferPointer { x in pb.withUnsafeBufferPointer { y in body(x.baseAddress!, y.baseAddress!) } }
}

/// Calls `body` with the parameters as C strings (`NULL` for SQL NULL), in text format.
private func withParameterArray<T>(_ params: [Value], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> T) -> T {
    let owned: [UnsafeMutablePointer<CChar>?] = params.map { value in
        PostgresText.parameter(value).map { strdup($0) } ?? nil
    }
    defer { owned.forEach { free($0) } }
    let pointers: [UnsafePointer<CChar>?] = owned.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}
