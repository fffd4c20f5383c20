/// An error from PostgreSQL or from talking to it, with everything the server said about it.
///
/// `description` reads like psql (`ERROR 23514: new row for relation "tracks" violates check
/// constraint "..."` followed by `DETAIL:` / `HINT:` lines and, for a statement position, the
/// statement line with a caret). No field ever holds a password: connection messages are
/// scrubbed with ``PostgresError/redactConninfo(_:)`` and the passwords found in the conninfo.
public struct PostgresError: Error, CustomStringConvertible, CustomDebugStringConvertible, Sendable {
    /// What kind of failure this is.
    public enum Kind: Sendable, Hashable {
        /// The server answered the statement with an error (SQLSTATE and fields are set).
        case server
        /// The connection could not be established (bad host, refused, authentication, timeout).
        case connect
        /// The connection broke or was closed while (or before) the statement ran.
        case connectionLost
        /// Sluice used the connection wrongly (for example two operations at once) or libpq
        /// reported an unexpected state.
        case client
    }

    public var kind: Kind
    /// `ERROR`, `FATAL`, ... as the server sent it (not localized).
    public var severity: String?
    /// The five-character SQLSTATE code, e.g. `23514` for a CHECK violation.
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    /// 1-based character position of the error in ``statement``.
    public var position: Int?
    public var constraint: String?
    public var schema: String?
    public var table: String?
    public var column: String?
    public var dataType: String?
    /// Where in the server the error arose, e.g. `COPY tmp, line 3, column id: "abc"`.
    public var context: String?
    /// The statement that failed, truncated to ``maxStatementLength`` characters.
    public var statement: String?

    /// How much of a failed statement an error keeps.
    public static let maxStatementLength = 2000

    public init(
        kind: Kind, message: String, sqlState: String? = nil, severity: String? = nil, detail: String? = nil,
        hint: String? = nil, position: Int? = nil, statement: String? = nil
    ) {
        self.kind = kind
        self.message = message
        self.sqlState = sqlState
        self.severity = severity
        self.detail = detail
        self.hint = hint
        self.position = position
        self.statement = statement.map(PostgresError.truncate)
    }

    /// The line of ``context`` where a COPY names the row it was reading (`COPY t, line 2,
    /// column j: "..."`): a type's own context may come first (`JSON data, line 1: ...`).
    public var copyContext: String? { copyLine.map(String.init) }

    private var copyLine: Substring? { context?.split(separator: "\n").last { $0.hasPrefix("COPY ") } }

    /// This error with the `line N` of a COPY's context (`COPY t, line 3, column id: "abc"`)
    /// replaced by `renumber(N)`; unchanged when the context names no line.
    public func renumberingCopyLine(_ renumber: (Int) -> Int) -> PostgresError {
        guard let context, let marker = copyLine?.firstRange(of: ", line ") else { return self }
        let digits = context[marker.upperBound...].prefix(while: \.isNumber)
        guard let line = Int(digits) else { return self }
        var renumbered = context
        renumbered.replaceSubrange(marker.upperBound..<digits.endIndex, with: String(renumber(line)))
        var error = self
        error.context = renumbered
        return error
    }

    static func truncate(_ statement: String) -> String {
        guard statement.count > maxStatementLength else { return statement }
        return String(statement.prefix(maxStatementLength)) + "…"
    }

    /// True for `57014 query_canceled`, what the server answers to `PQcancel`.
    public var isQueryCanceled: Bool { sqlState == "57014" }

    /// Whether the same work may succeed later with nothing changed: the server could not be
    /// reached, went away, restarted, or ran short (connections, disk, memory), or the statement
    /// lost a serialization or deadlock race. Not for what needs a fix first: a refused password,
    /// a missing database, a constraint, a statement timeout the plan set.
    public var isTransient: Bool {
        switch kind {
        case .connectionLost: return true
        case .connect:
            let text = message.lowercased()
            return Self.transientConnectFailures.contains { text.contains($0) }
        case .server:
            guard let code = sqlState else { return false }
            // 08 connection exception, 53 insufficient resources, 57P01-57P05 shutdown, crash,
            // cannot connect now, idle session timeout; 40001 serialization, 40P01 deadlock.
            // Not 08P01, a protocol violation: what the client sent (as many parameters as the
            // SQL's $n) is refused again however often it is sent.
            return (code.hasPrefix("08") && code != "08P01") || code.hasPrefix("53") || code.hasPrefix("57P")
                || code == "40001" || code == "40P01"
        case .client: return false
        }
    }

    /// What libpq says when a server is unreachable or not ready, rather than refusing the client.
    static let transientConnectFailures = [
        "connection refused", "timed out", "timeout expired", "the database system is starting up",
        "the database system is shutting down", "the database system is in recovery mode", "too many clients",
        "server closed the connection unexpectedly", "no route to host", "network is unreachable",
        "could not receive data from server", "could not send data to server",
    ]

    public var description: String {
        var out = message
        if let sqlState { out = "\(severity ?? "ERROR") \(sqlState): \(message)" }
        if let detail { out += "\nDETAIL: \(detail)" }
        if let hint { out += "\nHINT: \(hint)" }
        if let position, let statement, let caret = Self.caretLines(statement: statement, position: position) {
            out += "\n" + caret
        }
        return out
    }

    public var debugDescription: String {
        var out = description
        if let context { out += "\nCONTEXT: \(context)" }
        if let statement { out += "\nSTATEMENT: \(statement)" }
        var fields: [String] = []
        if let schema { fields.append("schema=\(schema)") }
        if let table { fields.append("table=\(table)") }
        if let column { fields.append("column=\(column)") }
        if let constraint { fields.append("constraint=\(constraint)") }
        if let dataType { fields.append("type=\(dataType)") }
        if !fields.isEmpty { out += "\n(" + fields.joined(separator: " ") + ")" }
        return out
    }

    /// psql's `LINE n: ...` and caret for a 1-based character `position` in `statement`.
    static func caretLines(statement: String, position: Int) -> String? {
        let characters = Array(statement)
        guard position >= 1, position <= characters.count + 1 else { return nil }
        var lineNumber = 1
        var lineStart = 0
        for i in 0..<(position - 1) where characters[i] == "\n" {
            lineNumber += 1
            lineStart = i + 1
        }
        var lineEnd = lineStart
        while lineEnd < characters.count, characters[lineEnd] != "\n" { lineEnd += 1 }
        let line = String(characters[lineStart..<lineEnd])
        let prefix = "LINE \(lineNumber): "
        let column = position - 1 - lineStart
        return prefix + line + "\n" + String(repeating: " ", count: prefix.count + column) + "^"
    }
}
