import SluiceCore
import SluicePostgres

/// Why a ``BulkUpdate`` failed. Its transaction was rolled back — the table is exactly as
/// before — except for ``Reason/commitOutcomeUnknown``, where the server could not be asked.
public struct BulkUpdateError: Error, CustomStringConvertible, Sendable {
    /// What the message of a ``Reason/drift`` failure says, which a run's record keeps as text:
    /// how a summary knows the apply failed for that (``message`` holds it).
    public static let driftPhrase = "changed since the review, so it no longer shows what the apply would do"
    /// What the message of a ``Reason/drift`` failure adds when the table holds what the review
    /// saw and the input reads otherwise: how a summary knows it was not the table that changed.
    public static let inputDriftPhrase = "the table holds what the review saw in these cells"

    public enum Reason: String, Sendable, Hashable {
        case invalidConfiguration
        /// An input batch lacks the key or an updated column (``column``).
        case missingColumn
        /// An input row has an empty key (``inputRow``).
        case missingKey
        /// The server rejected an input value for its column's type (``inputRow``, ``column``,
        /// ``value``; ``key``: the value for the key column, else the row's key when it was kept),
        /// e.g. a key that is not a UUID.
        case invalidValue
        /// A key appears with different values (``keys``).
        case duplicateKeys
        /// An insert's input holds keys already in the table (``keys``: a few of them).
        case existingKeys
        /// Rows changed since the review the update is held to (``keys``), with `on_drift: fail`.
        case drift
        /// An upsert's key has no primary key or unique constraint of its own, which
        /// `ON CONFLICT (key)` needs to tell an existing row from a new one.
        case noUniqueKey
        /// The new values break a constraint (``constraint``; ``key`` when it could be found).
        case constraintViolation
        /// The connection broke (killed, server restart, network); during COMMIT, this means the
        /// server confirmed the transaction was rolled back.
        case connectionLost
        /// The connection broke during COMMIT and the server could not tell whether the
        /// transaction committed: the table may hold the update. Applying the same input again
        /// is safe either way (it writes only rows that still differ).
        case commitOutcomeUnknown
        /// A row-level BEFORE trigger made the write land on other rows than it meant (``keys``):
        /// it gave a row another key, or a new row the key of an existing one. Undo, which finds
        /// rows by their key, could not put them back.
        case triggerRedirected
        /// The table's name resolves to another table than the review read or the apply changed
        /// (``BulkUpdate/expectedTarget``): another database, or another schema.
        case otherTable
        /// The write left rows it read and meant to change as they were (a row-level security
        /// policy for UPDATE narrower than the one for SELECT, a rule): rolled back.
        case rowsNotWritten
        /// The session or the server is read-only (`default_transaction_read_only`, a standby).
        case readOnly
        /// The role lacks a privilege the update needs; the message names it and the GRANT.
        case missingPrivilege
        /// Any other database error (see ``underlying``).
        case database
    }

    /// Where in the run it failed.
    public enum Phase: String, Sendable, Hashable {
        case begin, prepare, copy, check, recordPrior = "record-prior", update, commit

        /// When it failed, in the words of the message (`apply to tracks failed while ...`).
        public var words: String {
            switch self {
            case .begin: return "starting its transaction"
            case .prepare: return "preparing the input"
            case .copy: return "copying the rows in"
            case .check: return "checking the rows against the table"
            case .recordPrior: return "keeping the prior values"
            case .update: return "writing the rows"
            case .commit: return "committing"
            }
        }
    }

    public var table: String
    public var phase: Phase
    public var reason: Reason
    public var message: String
    public var key: String?
    public var keys: [String] = []
    /// 1-based position of the offending row in the input.
    public var inputRow: Int?
    public var column: String?
    public var value: String?
    public var constraint: String?
    public var underlying: PostgresError?
    /// The update was an undo (``BulkUpdate/guarded``), which its message names.
    public var isUndo = false
    /// What the caller found out about the failure, said after the server's words: which of the
    /// server's timeouts cancelled it, where it was set, who holds the lock it waited for.
    public var note: String?
    /// Whether the same update may go through later as it is (the lock it waited for released),
    /// as the caller found.
    public var mayPassLater = false

    public init(
        table: String, phase: Phase, reason: Reason, key: String? = nil, keys: [String] = [], inputRow: Int? = nil,
        column: String? = nil, message: String
    ) {
        self.table = table
        self.phase = phase
        self.reason = reason
        self.key = key
        self.keys = keys
        self.inputRow = inputRow
        self.column = column
        self.message = message
    }

    /// False only when the update may have committed (``Reason/commitOutcomeUnknown``).
    public var changedNothing: Bool { reason != .commitOutcomeUnknown }

    public var description: String {
        // An undo has no input: what it prepares is its own.
        let when = isUndo && phase == .prepare ? "preparing the undo" : phase.words
        var out = "\(isUndo ? "undo of" : "apply to") \(table) failed while \(when): \(message)"
        out +=
            changedNothing
            ? "; nothing was changed"
            : isUndo
                ? "; the undo may have committed: running it again is safe (it restores only cells still holding what "
                    + "the apply wrote)"
                : "; the update may have been applied: applying the same rows again is safe (only rows that still differ are written)"
        // A lost connection's message holds the underlying error already.
        if let underlying, reason != .connectionLost { out += "\n" + underlying.description }
        if let note { out += "\n" + note }
        return out
    }

    init(table: String, phase: Phase, postgres error: PostgresError) {
        // A refused row's own words (`Key (isrc)=(X) already exists.`) say which row, which a
        // constraint's name alone does not.
        var message = error.message
        if error.sqlState?.hasPrefix("23") == true, let detail = error.clause {
            message += ": \(detail)"
        }
        self.init(
            table: table, phase: phase, reason: error.kind == .connectionLost ? .connectionLost : .database,
            message: error.kind == .connectionLost ? "the connection was lost: \(error.description)" : message)
        underlying = error
        constraint = error.constraint
    }

    /// From a data error during COPY, whose context reads
    /// `COPY sluice_apply_input, line 3, column id: "abc"`; the row's key is named when
    /// `sentKeys` kept it.
    init(
        invalidInput error: PostgresError, table: String, key keyColumn: String,
        sentKeys: BulkUpdate.SentKeys? = nil
    ) {
        let context = error.copyContext ?? error.context ?? ""
        let line = Self.field(in: context, after: ", line ", until: [",", ":"]).flatMap { Int($0) }
        let column = Self.field(in: context, after: ", column ", until: [":"])
        var value: String?
        if let start = context.firstRange(of: ": \"")?.upperBound, context.hasSuffix("\"") {
            value = String(context[start..<context.index(before: context.endIndex)])
        }
        let isKey = column == keyColumn
        let rowKey = isKey ? nil : line.flatMap { sentKeys?.key(ofRow: $0) }
        var message = "input row \(line.map(String.init) ?? "?")"
        if let rowKey { message += " (\(keyColumn) \(ReviewCells.shown(rowKey)))" }
        if let column { message += ", column \(column)\(isKey ? " (the key)" : "")" }
        message += ": \(error.message)"
        self.init(
            table: table, phase: .copy, reason: .invalidValue, key: isKey ? value : rowKey, inputRow: line,
            column: column, message: message)
        self.value = value
        underlying = error
    }

    /// From ``BulkUpdate``'s read-back: `keys` (a few of `count`) are rows a trigger (one of
    /// `triggers`) moved to another key, or written where another row was meant.
    init(triggerRedirected keys: [String], count: Int, table: String, key: String, triggers: [String], isUndo: Bool) {
        let shown = keys.joined(separator: ", ") + (count > keys.count ? ", ..." : "")
        let named =
            triggers.count == 1 ? "trigger \(triggers[0])" : "one of the triggers \(triggers.joined(separator: ", "))"
        self.init(
            table: table, phase: .update, reason: .triggerRedirected, keys: keys,
            message: "a trigger on \(table) (\(named)) made the write land on other rows than "
                + "\(isUndo ? "the undo" : "the apply") meant: \(count.counted("row")) (\(key) \(shown)) given another "
                + "\(key), or written where a row with another \(key) was meant; "
                + "undo finds rows by their \(key) and could not put them back. Have the trigger leave \(key) as it "
                + "is, or disable it while applying (ALTER TABLE \(table) DISABLE TRIGGER ...)")
        self.isUndo = isUndo
    }

    /// From the server's refusal of `ON CONFLICT (key)`: no unique index on the key alone.
    init(noConflictArbiter error: PostgresError, table: String, key: String, phase: Phase) {
        self.init(
            table: table, phase: phase, reason: .noUniqueKey,
            message: "\(table) needs a primary key or unique constraint on \(key) for mode: upsert (\(error.message))")
        underlying = error
    }

    /// What a row's new values break (``Reason/constraintViolation``).
    public enum Violation: Sendable, Hashable {
        /// A named constraint: a CHECK, a foreign key, a unique index.
        case constraint(String)
        case notNull(column: String?)
        /// The target is partitioned and none of its partitions takes the row.
        case noPartition
        /// The target is a partition and the row is outside its bounds.
        case partitionBounds
        /// The target's row-level security refuses the new row (these policies: a restrictive
        /// one it fails, or the permissive ones it passes none of; `unpermitted`: the commands,
        /// `INSERT`, `UPDATE` or `SELECT`, that no permissive policy lets this role run, which
        /// row-level security then refuses for every row).
        case rowSecurity(policies: [String], unpermitted: [String] = [])
        /// Something else, in the server's words.
        case other(String)

        /// "violates constraint "x"", "fits no partition of parts", ..., of `table`; for a
        /// constraint, the table is named only when `namingTable`.
        public func phrase(of table: String, namingTable: Bool = false) -> String {
            let ofTable = namingTable ? " of table \(table)" : ""
            switch self {
            case .constraint(let name): return "violates constraint \"\(name)\"\(ofTable)"
            case .notNull(let column): return "violates NOT NULL on \(column ?? "a column")\(ofTable)"
            case .noPartition: return "fits no partition of \(table)"
            case .partitionBounds: return "is outside the bounds of partition \(table)"
            case .rowSecurity(let policies, let unpermitted):
                let named =
                    policies.isEmpty
                    ? [] : ["\(policies.count == 1 ? "policy" : "policies") \(policies.joined(separator: ", "))"]
                // Row-level security permits nothing no permissive policy allows (PostgreSQL's default deny).
                let none =
                    unpermitted.isEmpty
                    ? []
                    : [
                        "no policy lets this role \(unpermitted.joined(separator: " or ")) any row: "
                            + "row-level security refuses what no permissive policy allows"
                    ]
                return "is refused by the row-level security of \(table) (\((named + none).joined(separator: "; ")))"
            case .other(let message): return "is refused (\(message))"
            }
        }
    }

    /// What the new values break, for a ``Reason/constraintViolation``.
    public var violated: Violation?

    /// From a CHECK, NOT NULL, foreign key, unique or partition violation; `offending` is
    /// `[key, new values...]` when found, `constrained` the target's columns a foreign key, a
    /// unique index or a partition key is over (the first of them written is the column in question);
    /// `definition` the constraint's (`pg_get_constraintdef`), said when the row is not found.
    init(
        violation error: PostgresError, violated: Violation, table: String, offending: [Value]?, columns: [String],
        constrained: [String] = [], definition: String? = nil
    ) {
        var message: String
        if let offending, let key = offending.first?.text {
            let values = zip(columns, offending.dropFirst()).map { "\($0) = \($1.text ?? "NULL")" }
            message = "key \(key) (\(values.joined(separator: ", "))) \(violated.phrase(of: table))"
        } else {
            message = "a row \(violated.phrase(of: table))"
            if let definition { message += " (\(definition))" }
        }
        // Which value a foreign key misses, which row already holds it, or which partition key
        // no partition takes (a CHECK's detail is the whole failing row).
        if ["23503", "23505", "23P01"].contains(error.sqlState) || violated == .noPartition, let detail = error.clause {
            message += ": \(detail)"
        }
        self.init(
            table: table, phase: .update, reason: .constraintViolation, key: offending?.first?.text, message: message)
        self.violated = violated
        constraint = error.constraint
        column = error.column ?? constrained.first(where: columns.contains) ?? constrained.first
        underlying = error
    }

    /// This error without the server's detail when it holds values of columns outside `columns`
    /// (``PostgresError/withholdingRowValues(outside:)``), in ``underlying`` and in the message
    /// that quotes it: the row is named by its key and the values written instead.
    func withholdingRowValues(outside columns: Set<String>) -> BulkUpdateError {
        guard let underlying else { return self }
        let kept = underlying.withholdingRowValues(outside: columns)
        guard kept.detail != underlying.detail else { return self }
        var error = self
        if let clause = underlying.clause { error.message = message.replacing(": " + clause, with: "") }
        error.underlying = kept
        return error
    }

    private static func field(in text: String, after marker: String, until stops: Set<Character>) -> String? {
        guard let start = text.firstRange(of: marker)?.upperBound else { return nil }
        let end = text[start...].firstIndex(where: { stops.contains($0) }) ?? text.endIndex
        return String(text[start..<end])
    }
}

extension PostgresError {
    /// The server's detail as a clause of a longer message: without its full stop (a sentence
    /// of its own ends with one), `nil` when there is none.
    var clause: String? {
        guard let detail, !detail.isEmpty else { return nil }
        return detail.hasSuffix(".") ? String(detail.dropLast()) : detail
    }

    /// A COPY into the input table refused a value: a data exception (22: not a UUID, out of
    /// range), or a domain's constraint (23: the input table has the target's column types, and
    /// a domain brings its CHECK and NOT NULL; the table's own constraints are not copied).
    var refusesACopiedValue: Bool {
        kind == .server && (sqlState?.hasPrefix("22") == true || sqlState?.hasPrefix("23") == true)
    }
}
