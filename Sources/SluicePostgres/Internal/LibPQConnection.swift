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
    private var handle: PQHandle?
    /// The operation in progress, if any: libpq allows one at a time per connection.
    private var busy: String?
    /// Set when a streamed query is being read, for its column names.
    private var streamColumns: [String]?

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
        self.handle = handle
        return Session(
            cancel: handle.cancel, backendPID: Int(PQbackendPID(conn)), serverVersion: Int(PQserverVersion(conn)))
    }

    /// The user's `connect_timeout` (conninfo or `PGCONNECT_TIMEOUT`) if given, else ours.
    private func effectiveTimeout(_ conn: OpaquePointer, default timeout: Duration) -> Duration {
        guard let options = PQconninfo(conn) else { return timeout }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            if String(cString: keyword) == "connect_timeout", let value = option.pointee.val,
                let seconds = Int(String(cString: value)), seconds > 0
            {
                // libpq treats anything under 2 s as 2 s.
                return .seconds(max(seconds, 2))
            }
            option += 1
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
        while libpqMessage.last?.isWhitespace == true { libpqMessage.removeLast() }
        var message = "could not connect to PostgreSQL (\(target.joined(separator: " ")))"
        if let reason { message += ": \(reason)" }
        if !libpqMessage.isEmpty { message += ": \(libpqMessage)" }
        var error = PostgresError(kind: .connect, message: PostgresError.scrub(message, conninfo: conninfo))
        if PQconnectionNeedsPassword(conn) != 0 {
            error.hint = "the server asks for a password: put it in the URL, PGPASSWORD or ~/.pgpass"
        }
        return error
    }

    // MARK: Operations

    private func begin(_ operation: String) throws(PostgresError) -> OpaquePointer {
        guard let handle, !handle.isFinished else {
            throw PostgresError(kind: .connectionLost, message: "the connection is closed")
        }
        if let busy {
            throw PostgresError(
                kind: .client,
                message: "the connection is busy with \(busy); one connection runs one operation at a time")
        }
        guard PQstatus(handle.conn) == CONNECTION_OK else {
            throw PostgresError(kind: .connectionLost, message: "the connection to the server was lost")
        }
        busy = operation
        return handle.conn
    }

    /// Cancels the statement just sent if the task was cancelled before the cancellation handler
    /// could reach a running statement.
    private func cancelIfTaskCancelled() {
        if Task.isCancelled { handle?.cancel?.request() }
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

    func execute(_ sql: String, _ params: [Value], cancellable: Bool) throws(PostgresError) -> PostgresResult {
        let conn = try begin("a statement")
        defer { busy = nil }
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

    // MARK: Streaming

    struct Chunk: Sendable {
        var columns: [String]
        var rows: [[Value]]
        var done: Bool
    }

    func startStream(_ sql: String, _ params: [Value]) throws(PostgresError) {
        let conn = try begin("a streaming query")
        do {
            try send(conn, sql, params, forceExtended: true)
        } catch {
            busy = nil
            throw error
        }
        guard PQsetSingleRowMode(conn) == 1 else {
            drain(conn)
            busy = nil
            throw PostgresError(kind: .client, message: "could not enter single-row mode", statement: sql)
        }
        streamColumns = nil
        streamSQL = sql
        cancelIfTaskCancelled()
    }

    private var streamSQL = ""

    /// Reads up to `limit` rows; each `PQgetResult` in single-row mode holds one row, so memory
    /// is bounded by `limit` whatever the query returns.
    func nextRows(limit: Int) throws(PostgresError) -> Chunk {
        guard let handle, busy != nil else {
            throw PostgresError(kind: .client, message: "no streaming query is running")
        }
        let conn = handle.conn
        var rows: [[Value]] = []
        rows.reserveCapacity(limit)
        var reader: ResultReader?
        while rows.count < limit {
            guard let result = PQgetResult(conn) else {
                busy = nil
                guard PQstatus(conn) == CONNECTION_OK else { throw clientError(conn, sql: streamSQL) }
                return Chunk(columns: streamColumns ?? [], rows: rows, done: true)
            }
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_SINGLE_TUPLE:
                // Each row is its own PGresult, but the decoders only need working out once.
                if reader == nil { reader = ResultReader(result) }
                let rowReader = ResultReader(result, like: reader!)
                if streamColumns == nil { streamColumns = rowReader.columnNames }
                rows.append(rowReader.row(0))
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK:
                if streamColumns == nil { streamColumns = ResultReader(result).columnNames }
            default:
                let error = serverError(conn, result, sql: streamSQL)
                drain(conn)
                busy = nil
                throw error
            }
        }
        return Chunk(columns: streamColumns ?? [], rows: rows, done: false)
    }

    /// Ends whatever operation is in progress after the caller gave up on it: cancels the query
    /// on the server and discards what is left, so the connection can be used again.
    func abandon() {
        guard let handle, !handle.isFinished, busy != nil else { return }
        let conn = handle.conn
        if copyingIn {
            PQputCopyEnd(conn, "aborted by the client")
            copyingIn = false
        } else {
            handle.cancel?.request()
        }
        drain(conn)
        busy = nil
    }

    private var copyingIn = false

    // MARK: COPY FROM STDIN

    /// Starts `COPY ... FROM STDIN`; returns how many columns each row must have.
    func startCopyIn(_ sql: String) throws(PostgresError) -> Int {
        let conn = try begin("COPY FROM STDIN")
        do {
            try send(conn, sql, [], forceExtended: false)
        } catch {
            busy = nil
            throw error
        }
        cancelIfTaskCancelled()
        guard let result = PQgetResult(conn) else {
            busy = nil
            throw clientError(conn, sql: sql)
        }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COPY_IN else {
            let error =
                PQresultStatus(result) == PGRES_COMMAND_OK || PQresultStatus(result) == PGRES_TUPLES_OK
                ? PostgresError(kind: .client, message: "not a COPY FROM STDIN statement", statement: sql)
                : serverError(conn, result, sql: sql)
            drain(conn)
            busy = nil
            throw error
        }
        copyingIn = true
        streamSQL = sql
        return Int(PQnfields(result))
    }

    /// Sends one buffer of COPY text; returns it emptied (capacity kept) for reuse.
    func putCopyData(_ data: [UInt8]) throws(PostgresError) -> [UInt8] {
        guard let handle, copyingIn else { throw PostgresError(kind: .client, message: "no COPY is running") }
        let conn = handle.conn
        let sent = data.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(conn, $0.baseAddress, Int32($0.count)) }
        }
        if sent != 1 {
            // Prefer what the server said (e.g. "terminating connection due to administrator
            // command") over libpq's "connection lost".
            let fallback = clientError(conn, sql: streamSQL)
            let serverSide = drain(conn)
            copyingIn = false
            busy = nil
            throw serverSide ?? fallback
        }
        var emptied = data
        emptied.removeAll(keepingCapacity: true)
        return emptied
    }

    /// Ends the COPY: successfully (`errorMessage == nil`, returns rows copied) or aborting it.
    func endCopy(errorMessage: String?) throws(PostgresError) -> Int {
        guard let handle, copyingIn else { throw PostgresError(kind: .client, message: "no COPY is running") }
        let conn = handle.conn
        copyingIn = false
        defer { busy = nil }
        guard PQputCopyEnd(conn, errorMessage) == 1 else {
            let fallback = clientError(conn, sql: streamSQL)
            throw drain(conn) ?? fallback
        }
        var rows = 0
        var firstError: PostgresError?
        while let result = PQgetResult(conn) {
            defer { PQclear(result) }
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                rows = Int(String(cString: PQcmdTuples(result))) ?? 0
            } else if firstError == nil {
                firstError = serverError(conn, result, sql: streamSQL)
            }
        }
        if let firstError { throw firstError }
        guard PQstatus(conn) == CONNECTION_OK else { throw clientError(conn, sql: streamSQL) }
        return rows
    }

    // MARK: Closing

    func close() {
        handle?.finish()
        busy = nil
    }

    // MARK: Helpers

    /// Reads and discards results until libpq says the statement is over; returns the first error.
    @discardableResult
    private func drain(_ conn: OpaquePointer) -> PostgresError? {
        var firstError: PostgresError?
        while let result = PQgetResult(conn) {
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
                firstError = firstError ?? serverError(conn, result, sql: streamSQL)
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
            || sqlState?.hasPrefix("08") == true
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
