import Logging
import SluiceCore
import SluicePostgres

/// Updates columns of existing rows from a stream of keyed rows, in one transaction: the heart
/// of the apply stage. With ``mode`` it upserts or inserts the rows instead (see ``Mode``).
///
/// Steps, all inside one `BEGIN ... COMMIT` (or `ROLLBACK` for a dry run):
/// 1. `CREATE TEMP TABLE ... ON COMMIT DROP AS SELECT key, columns FROM target WITH NO DATA`,
///    so the input is parsed with the target's own types, then `COPY` the input into it.
///    A value the type rejects (a key that is not a UUID) fails naming the input row. Then
///    `ANALYZE` its key (a 3,000-row sample): the joins below are planned knowing the keys
///    distinct, so a few rows are found through the target's key rather than by hashing all of it.
/// 2. `LOCK TABLE target IN SHARE ROW EXCLUSIVE MODE`: readers go on, other writers wait, so
///    the prior values recorded below are exactly what the update replaces. Taken after the
///    COPY, the duplicate check of step 3 (which reads the input alone) and, for an update held
///    to a review with no fingerprint to compare first, the copy of the reviewed cells, so
///    writers are not held up while they arrive;
///    never taken by an update reviewed in its own transaction that finds nothing to change
///    (``reviewUnlocked(_:on:into:inputCounts:review:)``).
/// 3. Duplicate keys: rows repeating a key with *identical* values are dropped (counted in
///    ``BulkUpdateStats/duplicateRows``); a key given *different* values fails, naming it. The
///    client fingerprints every key as it is sent (``KeyTracker``); when they are all distinct
///    the server checks nothing. Otherwise a unique index built over the input (then dropped)
///    proves them distinct, and only when it cannot does a `GROUP BY` look for the repeats.
/// 4. The matched rows are counted, then the prior values of every row that will change are
///    streamed to `undo` (the comparison runs on the server, so unchanged rows cost no
///    transfer), with the values the update writes; applying them with ``undoing``
///    restores the table, row by row, where nobody changed the row since. Keys with no row in
///    the target are then reported (``BulkUpdateStats/unknownKeys`` and a few samples), not an
///    error. For inputs of ``concurrentPriorReadRows`` or more this pass runs on a second
///    connection *while* step 5 runs (``PriorReader``); either way every prior value has been
///    handed to `undo` before COMMIT.
/// 5. `UPDATE target SET ... FROM tmp WHERE key matches AND (new) IS DISTINCT FROM (old)`:
///    only rows that differ are written, so re-applying the same input changes 0 rows. A
///    constraint violation fails naming the offending key and the constraint.
/// 6. Only when the table has row-level BEFORE triggers that fire on the write (one catalog
///    lookup in step 1), which may store other values than written: each write first records
///    the values it writes, and before COMMIT the rows holding other values are read back,
///    counted (``BulkUpdateStats/alteredByTrigger``) and handed to `undo` (``storedColumns``),
///    so that the undo expects what the table holds, not what the trigger replaced. A guarded
///    update (an undo) reads back the same way: those are cells it did not restore. The write
///    then also records the rows it returned: an upsert's or insert's added rows go to `undo`
///    as stored (a trigger may re-key one, or keep it out), and a write a trigger made land on
///    other rows than meant fails (``BulkUpdateError/Reason/triggerRedirected``).
///
/// With ``writesWhileCopying``, an update reviewed in its own transaction (``InlineReview``) or
/// held to a review's fingerprint takes these steps in stretches of the input as it arrives: see
/// ``copyAhead``.
///
/// An ``Mode/upsert`` checks in step 2 that the key has a unique index to arbitrate conflicts,
/// streams in step 4 the rows it will add to `undo` too (flagged ``insertedColumn``), and writes
/// with `INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE (new) IS DISTINCT FROM (old)`. An
/// ``Mode/insert`` fails in step 3 when a key is already in the table, records every row as
/// inserted, and writes with a plain `INSERT`.
///
/// Input values: `.null` and the empty string are "empty"; per column, ``OnEmpty/clear`` writes
/// NULL for them and ``OnEmpty/keep`` leaves the table's value (`COALESCE(new, old)`). With
/// ``exactValues`` (an undo) the input holds database values and `""` is written as `""`.
///
/// A ``guarded`` update (an undo) also gets, per row, the values it expects the row to hold
/// (what the undone update wrote). It writes cell by cell: a cell holding anything else was
/// changed by someone since and is left as it is, its row counted in
/// ``BulkUpdateStats/conflicts``; the row's other cells are written.
/// Table and column names are always quoted (``PostgresConnection/quoteIdentifier(_:)``). The
/// connection must not be used by anything else (including `undo`) while this runs.
public struct BulkUpdate: Sendable {
    /// How the rows are written to the table.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// Update the rows whose key is in the table; other keys are counted
        /// (``BulkUpdateStats/unknownKeys``), not added.
        case update
        /// Insert the rows whose key is new, update the others where they differ. The key needs a
        /// primary key or unique constraint of its own.
        case upsert
        /// Insert every row; a key already in the table fails the run
        /// (``BulkUpdateError/Reason/existingKeys``) and nothing is written.
        case insert
    }

    /// What an update held to a review does with rows that changed since the review.
    public enum OnDrift: String, Sendable, Hashable, CaseIterable {
        /// Leave them, count and name them, write the rest.
        case skip
        /// Fail naming them; nothing changes.
        case fail
    }

    /// What an empty input value (NULL or `""`) means for a column.
    public enum OnEmpty: String, Sendable, Hashable, CaseIterable {
        /// Set the column to NULL: the source says there is no value.
        case clear
        /// Leave the table's value: the source could not say.
        case keep
    }

    public struct Column: Sendable, Hashable {
        public var name: String
        public var onEmpty: OnEmpty

        public init(_ name: String, onEmpty: OnEmpty) {
            self.name = name
            self.onEmpty = onEmpty
        }
    }

    /// The table to update, optionally schema-qualified (`public.tracks`).
    public var table: String
    /// The column identifying a row; should be unique in the target (a primary key), and must
    /// be for an ``Mode/upsert``.
    public var key: String
    public var columns: [Column]
    public var mode: Mode = .update
    /// Do everything, report what would change, then roll back.
    public var dryRun: Bool
    /// Rows per batch handed to `undo`.
    public var undoBatchSize: Int = 10_000
    /// From this many input rows on, the prior values are read (or an ``InlineReview`` made) on
    /// a second connection while the UPDATE runs (see ``PriorReader``), instead of before it;
    /// `nil` never does. Below it the read is too short to be worth a connection.
    public var concurrentPriorReadRows: Int? = 50_000
    /// Count, per column, the distinct input keys given a value (``BulkUpdateStats/filled``):
    /// one scan of the input on the server, after duplicate rows are dropped.
    public var countsFilled = false
    /// Where the second connection's copy of the input waits (an unnamed file, gone when the
    /// update ends); `nil` is `$TMPDIR` or `/tmp`. The apply stage uses its run directory.
    public var spoolDirectory: String?
    /// Called just before COMMIT (not in a dry run, nor for a review) with the transaction's id
    /// (`txid_current()`, `nil` where it could not be read): throwing rolls the transaction
    /// back, so nothing changes. The apply checks there that its undo file is still where `sluice
    /// undo` will look for it, and writes the id to it: what a later look asks the server about
    /// (`txid_status`) when the COMMIT's outcome was never learnt.
    public var beforeCommit: (@Sendable (Int64?) async throws -> Void)?
    /// Called once COMMIT has answered (or the server confirmed it went through), before
    /// anything after it (``analyzeShare``'s `ANALYZE`), with the figures of what was written:
    /// the apply records then that it committed, so that a process killed later does not leave
    /// it looking unfinished. Not called in a dry run, nor for a review.
    public var afterCommit: (@Sendable (BulkUpdateStats) async -> Void)?
    /// Called once `BEGIN` has answered on the update's connection (not a review's, nor the
    /// second connection's): from then until COMMIT an interruption rolls the transaction back;
    /// before, the update had started nothing on the server. The apply records it
    /// (``ApplyStage/transactionBeganCounter``), and so does an undo, to say which it was.
    public var transactionBegan: (@Sendable () -> Void)?
    /// Inputs whose COPY text is larger than this are read before the update instead: the spool
    /// is a second copy of the input on disk. With ``writesWhileCopying`` the spool carries the
    /// rows to the write, and such an input fails the update instead (which changes nothing):
    /// its caller keeps larger inputs off that path.
    public var spoolLimit = defaultSpoolLimit
    /// 1 GiB.
    public static let defaultSpoolLimit = 1 << 30
    /// The input arrives as fast as it can be read (a file checked as it streams in, a recorded
    /// spool read back), so the table may be locked while it does: an update reviewed in its
    /// own transaction (``InlineReview``), or held to a review's fingerprint, then writes the rows
    /// while the rest are read (``copyAhead``), instead of after the last. Leave it `false` for
    /// an input that may take long (a fetch upstream): the table is then locked only once the
    /// input is in.
    public var writesWhileCopying = false
    /// With ``writesWhileCopying``: the rows read before the first write, and half of it the
    /// fewest rows handed to the write at a time.
    public var copyAheadRows = 20_000
    /// Asked once the input is copied in: `true` when whoever produced it has proved its keys
    /// distinct as *uuids* (by their 128 bits; a CSV check that saw every key). Trusted only for
    /// a `uuid` key column, where it means what the server's duplicate check would find; then
    /// that check (a unique index over the input) is skipped.
    public var inputKeysDistinctAsUUIDs: (@Sendable () -> Bool)?
    /// How many unknown or duplicate keys to name in stats and errors.
    public var sampleLimit: Int = 10
    /// How long to keep asking the server what became of the transaction when the connection is
    /// lost during COMMIT: long enough for a restarting server to accept connections again.
    public var commitCheckLimit: Duration = .seconds(30)
    /// After COMMIT, `ANALYZE` the table (an update's columns only) when the rows written are
    /// more than 50 plus this share of the table's rows (`pg_class.reltuples`): autovacuum's own
    /// trigger, met now rather than a minute or so later, so that what runs next (verify) is
    /// planned on the new values. `nil` never does.
    public var analyzeShare: Double?
    /// The `TimeZone` to run in (`SET LOCAL`, on both connections), or `nil` for the session's
    /// own. An apply held to a review sets the review's: a `timestamptz` cell is printed (and
    /// compared with the reviewed one) as the review printed it, and a value without an offset
    /// reads as the instant the review showed, whoever approves it from wherever.
    public var timeZone: String?
    /// The `DateStyle` to run in (`SET LOCAL`, on both connections), or `nil` for the session's
    /// own: an apply held to a review sets the review's, so that an input date such as
    /// `01/02/2024` is read in the order the review read it (a session of `DMY` reads February).
    public var dateStyle: String?
    /// The table the write must find its name resolve to (``TableIdentity``): an approval sets the
    /// one its review read, an undo the one its apply changed. Another one (another database,
    /// another schema first on the `search_path`) fails the update before it changes anything.
    public var expectedTarget: TableIdentity?
    /// The row-level BEFORE triggers the review named (``ReviewSummary/triggers``): an approval
    /// finding another one on the table fails as drift, before it writes anything.
    public var expectedTriggers: [String]?
    /// Called in the transaction, before any row is written, with the table the name resolved to:
    /// an apply records it in its undo file, for its undo to check.
    public var targetResolved: (@Sendable (TableIdentity) async throws -> Void)?
    /// Work out what the table holds once this update commits (``BulkUpdateStats/appliedState``),
    /// for a later apply of the same input to skip with (``appliedState``). Costs one scan of the
    /// table, hashing each row, after the write and before COMMIT; only for an update that
    /// writes, reviewed in its own transaction (see ``AppliedState``).
    public var recordsAppliedState = false
    /// What an earlier apply of this very input recorded (``BulkUpdateStats/appliedState``); the
    /// caller vouches that the input is the same, row for row, and the update the same. When the
    /// table's key and written columns are still what that apply left (one scan), this update
    /// would change nothing: it then writes nothing and does not read `input` at all
    /// (``BulkUpdateStats/alreadyApplied``); a review inside it (``InlineReview``) gets the summary
    /// a re-apply that reads the input gets. Otherwise it runs as usual.
    public var appliedState: AppliedState?

    public init(table: String, key: String, columns: [Column], dryRun: Bool = false) {
        self.table = table
        self.key = key
        self.columns = columns
        self.dryRun = dryRun
    }

    /// Each input row also carries, after the columns, the value every column is expected to
    /// hold now (``expectedColumn(_:)``); a cell holding another value is a conflict, left alone.
    public var guarded = false
    /// The input holds database values, not source data: `""` is a value, not "empty".
    public var exactValues = false
    /// Each input row also carries, last, a flag (``insertedColumn``): `true` for a row the
    /// undone upsert or insert added, which is deleted — when it holds the expected values —
    /// instead of updated. Only for a ``guarded`` ``Mode/update`` (an undo).
    public var deletesInserted = false

    /// The update that puts back what this one changed, fed with the rows `undo` received
    /// (``undoColumns``): same table, key and columns, every column `clear` (a NULL prior value is
    /// restored too), values exact, and guarded by the values this update wrote, so a row changed
    /// since is reported, not overwritten. Rows an upsert or insert added are deleted.
    public var undoing: BulkUpdate {
        var undo = self
        undo.columns = columns.map { Column($0.name, onEmpty: .clear) }
        undo.dryRun = false
        undo.guarded = true
        undo.exactValues = true
        undo.mode = .update
        undo.deletesInserted = mode != .update
        return undo
    }

    /// The label of the input column holding the value `column` is expected to hold now.
    public static func expectedColumn(_ column: String) -> String { "expected:\(column)" }

    /// How ``BulkUpdateStats/conflictCells`` names the cells of an added row that someone wrote
    /// since in columns the apply did not write (so the row is kept).
    public static let unwrittenCells = "(columns the apply did not write)"

    /// The label of the flag saying a row was inserted (``undoColumns``, ``deletesInserted``).
    public static let insertedColumn = "sluice:inserted"

    /// The input columns, in COPY order: the key first, then the columns, then (``guarded``)
    /// the expected values, then (``deletesInserted``) the inserted flag.
    public var inputColumns: [String] {
        [key] + columns.map(\.name) + (guarded ? columns.map { Self.expectedColumn($0.name) } : [])
            + (deletesInserted ? [Self.insertedColumn] : [])
    }

    /// The columns of the batches `undo` receives: the key, the prior values, then the values
    /// this update writes as the expected values of ``undoing``; for an upsert or insert, then
    /// whether the row is one it adds (``insertedColumn``: its prior values are NULL).
    public var undoColumns: [String] {
        [key] + columns.map(\.name) + columns.map { Self.expectedColumn($0.name) }
            + (mode == .update ? [] : [Self.insertedColumn])
    }

    /// Runs the update with rows from `input`; see the type's documentation for the steps.
    ///
    /// - Parameters:
    ///   - connection: used for nothing else until this returns.
    ///   - input: batches whose columns include the key and every updated column (in any
    ///     order; other columns are ignored).
    ///   - undo: receives the prior values (``undoColumns``: the key, the updated columns, then
    ///     the values written) of every row that will change, in batches, before COMMIT (before
    ///     the UPDATE, or for large inputs while it runs); for an upsert or insert, also every row
    ///     it adds, flagged. Persist them here; if it throws, nothing is changed. Last, when
    ///     a trigger stored other values than written, batches of ``storedColumns`` saying what
    ///     those rows hold: the values their undo must expect instead.
    /// - Returns: the counts, also for a dry run.
    /// - Throws: ``BulkUpdateError`` (with the underlying ``PostgresError``) or
    ///   `CancellationError`; in every case the transaction is rolled back.
    public func run<Input: AsyncSequence>(
        on connection: PostgresConnection, input: Input, undo: (Batch) async throws -> Void
    ) async throws -> BulkUpdateStats where Input.Element == Batch {
        try await perform(on: connection, input: input, reviewed: AsyncBatches?.none, onDrift: .fail, undo: undo)
    }

    /// A review made inside the update's own transaction, for an update approved before it
    /// starts (`--yes`): no one reads the review before the write, so it is read from the
    /// locked table the write then changes, and nothing can drift in between. The input is
    /// copied once for both, or for large inputs replayed into a second connection that
    /// reviews while the write runs.
    public struct InlineReview {
        /// Receives batches of the cells that will change.
        public var cells: (ReviewCells) async throws -> Void
        /// Gets the summary (and what a page shows besides) before anything is committed —
        /// before the write, or for inputs of ``BulkUpdate/concurrentPriorReadRows`` or more
        /// while it runs (the review then reads on a second connection, ``PriorReader``);
        /// throwing (a guard-rail) cancels the write and rolls the transaction back. `undo` has
        /// had the prior values by then (the review reads them): its caller discards them when
        /// the update fails.
        public var reviewed: (ReviewSummary, ReviewDetails) async throws -> Void

        public init(
            cells: @escaping (ReviewCells) async throws -> Void,
            reviewed: @escaping (ReviewSummary, ReviewDetails) async throws -> Void
        ) {
            self.cells = cells
            self.reviewed = reviewed
        }
    }

    /// Runs the update, reviewing it first in the same transaction (``InlineReview``): the
    /// review's cells and summary are those of ``review(on:input:cells:)`` on the same table,
    /// and `review.reviewed` decides, before the write, whether it goes ahead.
    public func run<Input: AsyncSequence>(
        on connection: PostgresConnection, input: Input, review: InlineReview, undo: (Batch) async throws -> Void
    ) async throws -> BulkUpdateStats where Input.Element == Batch {
        try await perform(
            on: connection, input: input, reviewed: AsyncBatches?.none, onDrift: .fail, inlineReview: review,
            undo: undo)
    }

    /// Runs the update held to a review (``review(on:input:cells:)``): only the reviewed changes
    /// are written. Inside the transaction, `reviewed` is copied in before the table is locked (so
    /// other writers do not wait while it is read); once it is locked, the cells the update would
    /// change now are compared with it; a row the update would still write whose cells
    /// differ from the review (its value changed since, or it changed where the review saw no
    /// change) has *drifted*: with ``OnDrift/fail`` the apply fails naming those rows and changes nothing;
    /// with ``OnDrift/skip`` they are left as they are and counted
    /// (``BulkUpdateStats/drifted``), and the rest is written.
    ///
    /// With the review's `fingerprint` (``ReviewSummary/stateFingerprint``), the locked table's is
    /// read first: the same one means the write would change exactly the reviewed cells, so
    /// `reviewed` is not read at all (``BulkUpdateStats/reviewFingerprintMatched``; its caller
    /// checks that the review's file is intact). Any other is compared cell by cell as without
    /// it, the reviewed cells then read in while the table is locked. When a second connection
    /// reads the prior values beside the UPDATE (``concurrentPriorReadRows``), it reads the
    /// fingerprint there too, first, on the table as the write found it: the UPDATE does not wait
    /// for it. Another one (the rare case) rolls the UPDATE back to its savepoint before anything
    /// reached `undo`, and the apply goes on as above: compared cell by cell, then written again.
    ///
    /// - Parameter reviewed: batches of `[key, column, old, new]` as the review gave them
    ///   (text, NULL or `""` for empty).
    public func run<Input: AsyncSequence, Reviewed: AsyncSequence>(
        on connection: PostgresConnection, input: Input, reviewed: Reviewed, fingerprint: String? = nil,
        onDrift: OnDrift, undo: (Batch) async throws -> Void
    ) async throws -> BulkUpdateStats where Input.Element == Batch, Reviewed.Element == Batch {
        try await perform(
            on: connection, input: input, reviewed: reviewed, fingerprint: fingerprint, onDrift: onDrift, undo: undo)
    }

    private func perform<Input: AsyncSequence, Reviewed: AsyncSequence>(
        on connection: PostgresConnection, input: Input, reviewed: Reviewed?, fingerprint: String? = nil,
        onDrift: OnDrift, inlineReview: InlineReview? = nil, undo: (Batch) async throws -> Void
    ) async throws -> BulkUpdateStats where Input.Element == Batch, Reviewed.Element == Batch {
        do {
            return try await performing(
                on: connection, input: input, reviewed: reviewed, fingerprint: fingerprint, onDrift: onDrift,
                inlineReview: inlineReview, undo: undo)
        } catch var error as BulkUpdateError {
            // "permission denied for table items", "cannot execute CREATE TABLE AS in a read-only
            // transaction": which grant is missing, or that the server is a standby, said instead.
            if let state = error.underlying?.sqlState, ["25006", "42501"].contains(state),
                let problem = try? await accessProblem(on: connection)
            {
                let underlying = error.underlying
                error = BulkUpdateError(
                    table: table, phase: error.phase, reason: problem.reason, message: problem.message)
                error.underlying = underlying
            }
            // An undo's failure says so: "apply to tracks failed" read as the apply's.
            if guarded { error.isUndo = true }
            throw error.withholdingRowValues(outside: keyAndColumns)
        }
    }

    private func performing<Input: AsyncSequence, Reviewed: AsyncSequence>(
        on connection: PostgresConnection, input: Input, reviewed: Reviewed?, fingerprint: String?,
        onDrift: OnDrift, inlineReview: InlineReview?, undo: (Batch) async throws -> Void
    ) async throws -> BulkUpdateStats where Input.Element == Batch, Reviewed.Element == Batch {
        var sql = try validate(serverVersion: connection.serverVersion)
        if inlineReview != nil, guarded {
            throw BulkUpdateError(
                table: table, phase: .begin, reason: .invalidConfiguration, message: "a guarded update is not reviewed")
        }
        var phase = BulkUpdateError.Phase.begin
        var reader: PriorReader?
        // With triggers read back, the rows an upsert or insert adds go to `undo` as the write
        // stored them (``readBack``), not as the input gives them: a trigger may give one another
        // key, or keep it out.
        var addsRecordedAfterWrite = false
        func record(_ batch: Batch) async throws {
            guard addsRecordedAfterWrite, batch.columns == undoColumns else { return try await undo(batch) }
            let kept = batch.rows.filter { $0.last != .bool(true) }
            if !kept.isEmpty { try await undo(Batch(columns: batch.columns, rows: kept)) }
        }
        do {
            _ = try await connection.execute("BEGIN")
            transactionBegan?()
            phase = .prepare
            for setting in sql.sessionSettings { _ = try await connection.execute(setting) }
            try await checkTarget(sql, on: connection)
            try await readTextCompared(&sql, on: connection)
            // The transaction's id, to ask the server what became of it if the connection is
            // lost while COMMIT is in flight.
            let transaction = dryRun ? nil : try await connection.execute("SELECT txid_current()").scalar.intValue
            _ = try await connection.execute(sql.createInput)
            // A trigger may store other values than the write's: an apply's undo must expect
            // them, and an undo that restores a cell the trigger rewrites has not restored it.
            sql.triggers = try await writeTriggers(sql, on: connection)
            if let expectedTriggers {
                let unknown = sql.triggers.filter { !expectedTriggers.contains($0) }
                if !unknown.isEmpty {
                    throw BulkUpdateError(
                        table: table, phase: .prepare, reason: .drift,
                        message: "\(table) \(BulkUpdateError.driftPhrase): it has "
                            + (unknown.count == 1 ? "a trigger" : "triggers") + " the review did not know ("
                            + unknown.joined(separator: ", ") + "), which \(unknown.count == 1 ? "fires" : "fire")"
                            + " on the write and may store other values than the ones reviewed")
                }
            }
            if sql.readsBack {
                _ = try await connection.execute(sql.createIntended)
                _ = try await connection.execute(sql.createReturned)
                addsRecordedAfterWrite = mode != .update
            }
            if deletesInserted || (sql.readsBack && mode != .update) {
                // What an added row must still be NULL in to be deleted: no one else wrote it (and
                // so what a trigger must not fill as the row is added, for its undo to delete it).
                sql.unwrittenNames = try await connection.execute(sql.unwrittenColumns).rows.compactMap {
                    $0.first?.stringValue
                }
                sql.unwritten = try sql.unwrittenNames.map { name throws(PostgresError) in
                    try PostgresConnection.quoteIdentifierPart(name)
                }
            }
            try await checkRowsCanBeAdded(sql, on: connection)
            let keyIsUnique = try await keyMatchesOneRow(sql, on: connection)
            let tracksState = reviewed == nil && tracksAppliedState(sql, keyIsUnique: keyIsUnique)
            var stats = BulkUpdateStats(dryRun: dryRun)
            if let appliedState, tracksState,
                let (summary, details, filled) = try await alreadyApplied(appliedState, sql, on: connection)
            {
                // Nothing to write, and nothing written: the transaction ends as it began.
                try await inlineReview?.reviewed(summary, details)
                _ = try await connection.execute("ROLLBACK")
                stats.alreadyApplied = true
                stats.inputRows = summary.inputRows
                stats.duplicateRows = summary.duplicateRows
                stats.matched = summary.matched
                stats.unknownKeys = summary.unknownKeys
                stats.unknownKeySamples = summary.unknownKeySamples
                if countsFilled { stats.filled = filled }
                return stats
            }
            var keys = try await keyTracker(sql, on: connection, limit: KeyTracker.limit)
            phase = .copy
            // The COPY's bytes, in case a second connection reads the prior values (or reviews).
            var spool = concurrentPriorReadRows == nil ? nil : makeSpool(logger: connection.logger)
            var rows = InputRows(self)
            try await describeInput(sql, on: connection, into: &rows)
            var ahead: WrittenAhead?
            var firstRowsWriteNothing = false
            // Held to a review, written while copied: the prior values, and what the write did.
            var aheadRecorded: RecordedAhead?
            // Held to a review, the writes made while copying undone (``CopiedAhead/undone(_:)``).
            var undoneAhead = false
            let copied: Copied
            if writesWhileCopying, mode == .update, !guarded, keyIsUnique, let spooled = spool,
                let read = aheadRead(
                    sql, inlineReview: inlineReview, reviewed: reviewed != nil, fingerprint: fingerprint,
                    tracksState: tracksState)
            {
                let outcome: CopiedAhead
                do {
                    outcome = try await copyAhead(
                        input, into: sql, on: connection, rows: &rows, keys: &keys, spool: spooled, beside: read,
                        stats: &stats, reader: &reader, undo: record)
                } catch let error as BulkUpdateError {
                    throw namingKey(error, from: rows)
                }
                switch outcome {
                case .copied(let all, let writeNothing):
                    copied = all
                    firstRowsWriteNothing = writeNothing
                    // It holds the first rows only: reviewed on this connection, they need no spool.
                    if writeNothing { spool = nil }
                case .written(let written):
                    ahead = written
                    copied = written.copied
                case .recorded(let recorded):
                    copied = recorded.copied
                    aheadRecorded = recorded
                case .undone(let all):
                    copied = all
                    undoneAhead = true
                }
                if let concurrent = reader {
                    await concurrent.close()
                    reader = nil
                }
            } else {
                copied = try await copy(input, into: sql, on: connection, rows: &rows, keys: &keys, spool: spool)
            }
            stats.inputRows = copied.rows
            stats.offsetTimestamps = copied.offsetTimestamps
            if !keyIsUnique {
                phase = .check
                try await refuseKeysMatchingSeveralRows(sql, on: connection)
            }
            var inlineSummary: ReviewSummary?
            var intact: Copied?
            var inlineFilled: [Int]?
            var inlineWritten: Written?
            // Whether a sample of the input's first rows writes anything (sampleWrites), once asked.
            var sampled: Bool? = firstRowsWriteNothing ? false : nil
            if let ahead {
                stats.duplicateRows = ahead.summary.duplicateRows
                inlineSummary = ahead.summary
                inlineFilled = ahead.filled
                inlineWritten = ahead.written
                stats.priorReadConcurrently = true
                spool = nil
            } else if aheadRecorded != nil {
                // Every row copied is in: the fingerprint matched, no key repeats.
                intact = copied
                stats.priorReadConcurrently = true
                spool = nil
            } else {
                phase = .prepare
                try await analyzeInput(sql, on: connection)
                phase = .check
                // Distinct fingerprints prove distinct keys; otherwise the server looks (at the
                // input table, this session's own: the target need not be locked for it).
                if !keys.provesUnique && !keysProvenDistinct(keys) {
                    stats.duplicateRows = try await removeDuplicates(sql, on: connection, inTransaction: true)
                }
                // Any size of input: a re-apply of ten rows locks nothing either (the sample is ~4 ms).
                if sampled == nil, inlineReview != nil, mode == .update, reviewed == nil, stats.duplicateRows == 0 {
                    sampled = try await sampleWrites(sql, on: connection)
                }
                if let inlineReview, sampled == false, mode == .update, reviewed == nil {
                    var summary = reviewSummary(of: stats, sql)
                    intact = stats.duplicateRows == 0 ? copied : nil
                    if let filled = try await reviewUnlocked(
                        sql, on: connection, into: &summary, inputCounts: intact?.counts, review: inlineReview)
                    {
                        inlineFilled = filled
                        inlineSummary = summary
                        spool = nil
                    }
                }
            }
            // Compared first, on the locked table: the reviewed cells are read only when it differs.
            let fingerprint = sql.hasRecordHash ? fingerprint : nil
            // The review's fingerprint when the second connection compares it beside the write.
            var besideFingerprint: String?
            if ahead == nil, aheadRecorded == nil, inlineSummary == nil {
                if let reviewed, fingerprint == nil {
                    // The reviewed cells are this session's own table: read in before the lock, so
                    // other writers do not wait while the review file is read.
                    phase = .check
                    try await loadReviewed(sql, reviewed: reviewed, on: connection)
                }
                phase = .prepare
                // Locked once the input is in: other writers wait from here to COMMIT, not while the
                // input is read (which may be a file being checked as it streams in).
                _ = try await connection.execute(sql.lock)
                phase = .check
                if mode == .insert { try await refuseExistingKeys(sql, on: connection) }
                if let reviewed {
                    if let fingerprint, inlineReview == nil, !sql.readsBack, !undoneAhead,
                        let threshold = concurrentPriorReadRows, stats.inputRows >= threshold, stats.duplicateRows == 0,
                        let spooled = spool, spooled.failure == nil,
                        let concurrent = await PriorReader.open(alongside: connection, sql: sql)
                    {
                        reader = concurrent
                        besideFingerprint = fingerprint
                    } else if let fingerprint, try await stateFingerprint(sql, on: connection) == fingerprint {
                        stats.reviewFingerprintMatched = true
                    } else {
                        // Changed since the review (or a re-apply of it): the rare case, read in locked.
                        if fingerprint != nil { try await loadReviewed(sql, reviewed: reviewed, on: connection) }
                        try await holdToReview(sql, onDrift: onDrift, on: connection, into: &stats)
                    }
                }
                // Reviewed here, on the locked table: what it finds is what the write will do, and the
                // rows it streams carry the prior values, so `undo` gets them from the same read.
                // The client's counts of what it copied hold while every row copied is still there.
                intact = stats.duplicateRows == 0 && stats.driftedInputRows == 0 ? copied : nil
                if let inlineReview {
                    var summary = reviewSummary(of: stats, sql)
                    // Locked from here to COMMIT: the keys the review finds unknown stay so.
                    let recordsState = recordsAppliedState && tracksState && stats.driftedInputRows == 0
                    if let threshold = concurrentPriorReadRows, stats.inputRows >= threshold, stats.duplicateRows == 0,
                        let spooled = spool, spooled.failure == nil,
                        try await sampled == nil ? sampleWrites(sql, on: connection) : sampled == true,
                        let concurrent = await PriorReader.open(alongside: connection, sql: sql)
                    {
                        reader = concurrent
                        (inlineFilled, inlineWritten) = try await reviewWhileWriting(
                            sql, on: connection, reader: concurrent, spool: spooled, inputCounts: intact?.counts,
                            recordsState: recordsState, review: inlineReview, into: &summary, undo: record)
                        await concurrent.close()
                        reader = nil
                        stats.priorReadConcurrently = true
                    } else {
                        inlineFilled = try await reviewInline(
                            sql, on: connection, into: &summary, inputCounts: intact?.counts,
                            recordsState: recordsState, review: inlineReview, undo: record)
                    }
                    spool = nil
                    inlineSummary = summary
                }
            }
            let reviewedWrites = inlineSummary.map { $0.changedRows + $0.insertedRows }
            // After the review has held back drifted rows: these are the values the update writes.
            // A review in this transaction counted them already, on the same input.
            if countsFilled {
                if let inlineFilled {
                    stats.filled = inlineFilled
                } else {
                    stats.filled = try await filledCounts(sql, intact: intact, on: connection)
                }
            }
            phase = .recordPrior
            // The second connection's copy of the input holds every row copied: not when some
            // were dropped since (duplicates folded, drifted rows set aside).
            if inlineSummary == nil, aheadRecorded == nil, reader == nil, let threshold = concurrentPriorReadRows,
                stats.inputRows >= threshold,
                stats.duplicateRows == 0, stats.driftedInputRows == 0, let spool, spool.failure == nil
            {
                reader = await PriorReader.open(alongside: connection, sql: sql)
            }
            if reader == nil { spool = nil }
            let recorded: Recorded
            let written: Written
            if let inlineSummary {
                // The review recorded the prior values (and, on a second connection, ran beside the
                // write); with nothing to change (a re-apply) there is no statement to run either.
                recorded = Recorded(prior: inlineSummary.changedRows, added: inlineSummary.insertedRows)
                stats.matched = inlineSummary.matched
                if mode == .update {
                    stats.unknownKeys = inlineSummary.unknownKeys
                    stats.unknownKeySamples = inlineSummary.unknownKeySamples
                }
                phase = .update
                if let inlineWritten {
                    written = inlineWritten
                } else {
                    written = reviewedWrites == 0 ? Written() : try await write(sql, on: connection)
                }
            } else if let aheadRecorded {
                (recorded, written) = (aheadRecorded.recorded, aheadRecorded.written)
            } else if let concurrent = reader, let spool {
                let inputRows = stats.inputRows
                var besideRecorded: Recorded?
                var besideWritten = Written()
                do {
                    (besideRecorded, besideWritten) = try await besideWrite(
                        sql, on: connection, reader: concurrent, spool: spool, inputRows: inputRows
                    ) { () async throws -> Recorded? in
                        if let besideFingerprint {
                            // The table as the write found it: the reader cannot see the write.
                            guard try await stateFingerprint(sql, on: concurrent.connection) == besideFingerprint else {
                                return nil
                            }
                            stats.reviewFingerprintMatched = true
                        }
                        return try await recordPrior(sql, on: concurrent.connection, into: &stats, undo: record)
                    }
                } catch let error as BulkUpdateError
                    where error.reason == .constraintViolation && besideFingerprint != nil
                {
                    // A row that drifted may be the one that fails (set aside, it would not be
                    // written): the violation stands only on the table the review saw. The write
                    // rolled itself back to its savepoint.
                    guard try await stateFingerprint(sql, on: connection) != besideFingerprint else { throw error }
                }
                await concurrent.close()
                reader = nil
                if let besideRecorded {
                    (recorded, written) = (besideRecorded, besideWritten)
                    stats.priorReadConcurrently = true
                } else if let reviewed {
                    // Changed since the review: the write is undone, the reviewed cells compared
                    // one by one as without a fingerprint, and what is left written again.
                    if besideWritten.statements > 0 {
                        _ = try await connection.execute("ROLLBACK TO SAVEPOINT sluice_apply_update")
                    }
                    phase = .check
                    try await loadReviewed(sql, reviewed: reviewed, on: connection)
                    try await holdToReview(sql, onDrift: onDrift, on: connection, into: &stats)
                    intact = stats.driftedInputRows == 0 ? copied : nil
                    if countsFilled { stats.filled = try await filledCounts(sql, intact: intact, on: connection) }
                    phase = .recordPrior
                    recorded = try await recordPrior(sql, on: connection, into: &stats, undo: record)
                    phase = .update
                    written = try await write(sql, on: connection)
                } else {
                    throw PostgresError(kind: .client, message: "the prior values were not read beside the write")
                }
            } else {
                recorded = try await recordPrior(sql, on: connection, into: &stats, undo: record)
                phase = .update
                written = try await write(sql, on: connection)
            }
            count(written, recorded: recorded, into: &stats)
            if countsFilled, inlineFilled == nil, mode == .update, stats.unknownKeys > 0 {
                // Filled counts keys the table has: an unknown key's value went nowhere. Written
                // while copied, this connection's input table holds the last stretch only.
                let unknown: [Int]
                if let aheadRecorded {
                    unknown = aheadRecorded.filledOfUnknownKeys
                } else {
                    let row = try await connection.execute(sql.filledOfUnknownKeys).rows.first ?? []
                    unknown = row.map { Int($0.intValue ?? 0) }
                }
                stats.filled = zip(stats.filled, unknown).map { $0 - $1 }
            }
            stats.writeStatements = written.statements
            if sql.readsBack {
                // Every prior value is in `undo` by now: what the triggers stored follows them.
                phase = .recordPrior
                stats.checkedTriggers = true
                let added = try await readBack(sql, on: connection, into: &stats, undo: undo)
                stats.rowsSkippedByTrigger = max(0, written.intended - written.rows)
                if mode != .update {
                    // The rows stored as added: a trigger may have kept some out.
                    stats.inserted = added
                    stats.changed = written.rows - added
                }
            }
            // What the table holds now, for a re-apply of this input: worked out by the review
            // (its scan's hash and what each row changes), else read, the table still locked.
            var applied: AppliedState?
            if !dryRun, var state = inlineSummary?.appliedState {
                if state.fingerprint.isEmpty, let fingerprint = try await fingerprintWritten(sql, on: connection) {
                    state.fingerprint = fingerprint
                }
                if !state.fingerprint.isEmpty { applied = state }
            }
            let wrote = written.rows + written.deleted + stats.rowsSkippedByTrigger
            if !guarded, wrote < recorded.prior + recorded.added,
                let why = try await notWritten(recorded.prior + recorded.added - wrote, sql, on: connection)
            {
                // Rows it read, and meant to change, that the write passed over: a table it must not
                // pretend to have changed, nor undo as if it had.
                throw BulkUpdateError(table: table, phase: .update, reason: .rowsNotWritten, message: why)
            }
            if wrote != recorded.prior + recorded.added {
                connection.logger.warning(
                    "rows changed differ from prior values recorded",
                    metadata: [
                        "db.table": "\(table)", "apply.changed": "\(written.rows + written.deleted)",
                        "apply.prior": "\(recorded.prior + recorded.added)",
                    ])
            }
            phase = .commit
            if dryRun {
                _ = try await connection.execute("ROLLBACK")
            } else {
                if let beforeCommit { try await beforeCommit(transaction) }
                do {
                    let commit = try await connection.execute("COMMIT")
                    guard commit.commandTag == "COMMIT" else {
                        throw PostgresError(kind: .client, message: "COMMIT was turned into \(commit.commandTag)")
                    }
                } catch let lost as PostgresError where lost.kind == .connectionLost {
                    // COMMIT may or may not have happened: find out instead of guessing.
                    try await confirmCommit(transaction, lost: lost, on: connection)
                    stats.commitConfirmedAfterConnectionLoss = true
                }
                if let afterCommit { await afterCommit(stats) }
                if !stats.commitConfirmedAfterConnectionLoss {
                    stats.analyzed = await refreshStatistics(
                        sql, written: written.rows + written.deleted, on: connection)
                }
                stats.appliedState = applied
            }
            return stats
        } catch let error as BulkUpdateError {
            await reader?.close()
            await connection.rollbackQuietly()
            throw error
        } catch let error as PostgresError {
            await reader?.close()
            await connection.rollbackQuietly()
            throw BulkUpdateError(table: table, phase: phase, postgres: error)
        } catch {
            await reader?.close()
            await connection.rollbackQuietly()
            throw error
        }
    }

    /// What the second connection does beside a write made while the input is copied: an update
    /// approved up front reviews; one held to a review with a fingerprint (and no trigger whose
    /// stored values it would read back) compares it; any other is not written while copied.
    private func aheadRead(
        _ sql: SQL, inlineReview: InlineReview?, reviewed: Bool, fingerprint: String?, tracksState: Bool
    ) -> AheadRead? {
        if let inlineReview, !reviewed {
            return .review(inlineReview, recordsState: recordsAppliedState && tracksState)
        }
        guard inlineReview == nil, reviewed, let fingerprint, sql.hasRecordHash, !sql.readsBack else { return nil }
        return .heldToReview(fingerprint: fingerprint)
    }

    /// The values the update writes, per column: the client's counts of what it copied (`intact`)
    /// while every row copied is still in the input, otherwise counted on the server.
    private func filledCounts(_ sql: SQL, intact: Copied?, on connection: PostgresConnection) async throws -> [Int] {
        if let filled = intact?.filled { return filled }
        let row = try await connection.execute(sql.filledCounts).rows.first ?? []
        return row.map { Int($0.intValue ?? 0) }
    }

    /// An inline review on the ``PriorReader``'s connection while the main one writes: the reader
    /// reads the table as it was before the write (locked against other writers, the write not
    /// committed), so the review and `undo` get what they would get before it. The review's
    /// verdict (`review.reviewed`, a guard-rail) comes before COMMIT, not before the write: a
    /// refusal cancels the write and rolls everything back, so it still changes nothing.
    /// Returns the input's filled counts and what the write reported.
    private func reviewWhileWriting(
        _ sql: SQL, on connection: PostgresConnection, reader: PriorReader, spool: CopySpool, inputCounts: [Int]?,
        recordsState: Bool, review: InlineReview, into summary: inout ReviewSummary,
        undo: (Batch) async throws -> Void
    ) async throws -> (filled: [Int], written: Written) {
        try await besideWrite(sql, on: connection, reader: reader, spool: spool, inputRows: summary.inputRows) {
            try await reviewInline(
                sql, on: reader.connection, into: &summary, inputCounts: inputCounts, recordsState: recordsState,
                review: review, undo: undo)
        }
    }

    /// Makes the review of an update approved up front on `connection` (``tallyReview``, `undo`
    /// getting the prior values) and hands it to `review.reviewed`, whose refusal throws; returns
    /// the input's filled counts.
    func reviewInline(
        _ sql: SQL, on connection: PostgresConnection, into summary: inout ReviewSummary, inputCounts: [Int]?,
        recordsState: Bool = false, review: InlineReview, undo: (Batch) async throws -> Void
    ) async throws -> [Int] {
        let (details, filled) = try await withoutActuallyEscaping(undo) { undo in
            try await tallyReview(
                sql, on: connection, into: &summary, inputCounts: inputCounts, recordsState: recordsState,
                cells: review.cells, undo: undo)
        }
        try await review.reviewed(summary, details)
        return filled
    }

    /// An empty review of this update's input as `stats` counts it so far: its rows and the
    /// duplicates dropped from them, and the triggers `sql` found.
    private func reviewSummary(of stats: BulkUpdateStats, _ sql: SQL) -> ReviewSummary {
        var summary = ReviewSummary(table: table, key: key, mode: mode.rawValue)
        summary.inputRows = stats.inputRows
        summary.duplicateRows = stats.duplicateRows
        summary.triggers = sql.triggers
        summary.offsetTimestamps = stats.offsetTimestamps
        return summary
    }

    /// Reviews, before the table is locked, an update whose input a sample says writes nothing (a
    /// re-apply, most likely): when the review finds no cell to change, nothing will be written,
    /// so the update commits without ever locking the table — other writers, and a `VACUUM` or
    /// autovacuum working on it, are not made to wait or cancelled — and the review stands (rows
    /// changed by others meanwhile are theirs: this update wrote nothing before them). Returns the
    /// input's filled counts. At the first cell it would change, the review stops, is rolled back
    /// to before it (nothing handed to `review` or to the undo) and returns `nil`: the update then
    /// locks the table and reviews again, as for any input.
    func reviewUnlocked(
        _ sql: SQL, on connection: PostgresConnection, into summary: inout ReviewSummary, inputCounts: [Int]?,
        review: InlineReview
    ) async throws -> [Int]? {
        struct WouldWrite: Error {}
        _ = try await connection.execute("SAVEPOINT sluice_apply_unlocked")
        var attempt = summary
        let filled: [Int]
        do {
            filled = try await reviewInline(
                sql, on: connection, into: &attempt, inputCounts: inputCounts,
                review: InlineReview(cells: { _ in throw WouldWrite() }, reviewed: review.reviewed),
                undo: { _ in throw WouldWrite() })
        } catch is WouldWrite {
            _ = try await connection.execute("ROLLBACK TO SAVEPOINT sluice_apply_unlocked")
            return nil
        }
        _ = try await connection.execute("RELEASE SAVEPOINT sluice_apply_unlocked")
        summary = attempt
        return filled
    }

    /// Runs the write on the main connection while `read` runs on the ``PriorReader``'s, once
    /// the input is replayed into it from `spool`; returns what `read` returned and what the
    /// write reported. A failure of `read` cancels the write; the write's own failure surfaces
    /// once `read` is done.
    private func besideWrite<Read>(
        _ sql: SQL, on connection: PostgresConnection, reader: PriorReader, spool: CopySpool, inputRows: Int,
        _ read: () async throws -> Read
    ) async throws -> (Read, Written) {
        try await withThrowingTaskGroup(of: Written.self) { group in
            group.addTask { [self] in
                do {
                    return try await write(sql, on: connection)
                } catch let error as PostgresError {
                    throw BulkUpdateError(table: table, phase: .update, postgres: error)
                }
            }
            let copied = try await spool.copy(into: reader.connection, sql.copyInput)
            guard copied == inputRows else {
                throw PostgresError(
                    kind: .client, message: "the second connection copied \(copied) input rows instead of \(inputRows)")
            }
            try await analyzeInput(sql, on: reader.connection)
            let value = try await read()
            return (value, try await group.next() ?? Written())
        }
    }

    /// Whether the input's first rows have anything to write. A review beside the write pays
    /// for replaying the input into a second connection; when those rows write nothing (a
    /// re-apply, most likely: then the review finds nothing and no UPDATE runs at all) it
    /// reviews first on this connection instead. Only a choice of path: either gives the same
    /// review and the same writes.
    func sampleWrites(_ sql: SQL, on connection: PostgresConnection) async throws -> Bool {
        let row = try await connection.execute(sql.sampledWrites).rows.first
        return row?.first?.intValue != 0 || row?.last?.intValue == 0
    }

    /// Runs the update with rows from an array of batches.
    public func run(
        on connection: PostgresConnection, batches: [Batch], undo: (Batch) async throws -> Void
    ) async throws -> BulkUpdateStats {
        try await run(on: connection, input: AsyncBatches(batches), undo: undo)
    }

    /// What the write statements reported.
    struct Written: Sendable {
        /// Rows the UPDATE, upsert or INSERT wrote (inserted and updated, for an upsert).
        var rows = 0
        /// Rows the undo of an upsert or insert deleted.
        var deleted = 0
        /// Write statements run: more than one when rows were written as the input was read.
        var statements = 0
        /// Rows the write meant to change, recorded before it when the table's triggers are read
        /// back (``SQL/recordIntended``); else 0.
        var intended = 0
    }

    /// What the pass before the write handed to `undo`.
    struct Recorded: Sendable {
        /// Prior values of rows that will change (and, for an undo, of inserted rows it deletes).
        var prior = 0
        /// Rows an upsert or insert will add.
        var added = 0
    }

    /// Splits what was written into the stats' counts. The table is locked against other
    /// writers since before the rows to add were counted, so an upsert inserts exactly those
    /// and updates the rest of what it wrote.
    private func count(_ written: Written, recorded: Recorded, into stats: inout BulkUpdateStats) {
        switch mode {
        case .update:
            stats.changed = written.rows
            stats.deleted = written.deleted
        case .upsert:
            stats.inserted = min(recorded.added, written.rows)
            stats.changed = written.rows - stats.inserted
        case .insert:
            stats.inserted = written.rows
        }
    }

    /// Says why `count` rows this role can read, whose values differ from the input's, were not
    /// written: a row-level security policy for UPDATE that the read's does not match, or a rule
    /// on UPDATE (named). `nil` when the table has neither.
    private func notWritten(_ count: Int, _ sql: SQL, on connection: PostgresConnection) async throws -> String? {
        let found = try await connection.execute(
            """
            SELECT 'policy', p.polname::text FROM pg_policy AS p JOIN pg_class AS c ON c.oid = p.polrelid \
            WHERE c.oid = \(sql.targetLiteral)::regclass AND c.relrowsecurity AND p.polcmd IN ('w', '*') \
            UNION ALL SELECT 'rule', rulename::text FROM pg_rewrite \
            WHERE ev_class = \(sql.targetLiteral)::regclass AND ev_type = '2' ORDER BY 1, 2
            """
        ).rows
        func names(_ kind: String) -> [String] {
            found.filter { $0.first?.stringValue == kind }.compactMap { $0.last?.stringValue }
        }
        let (policies, rules) = (names("policy"), names("rule"))
        var why: [String] = []
        if !policies.isEmpty {
            why.append(
                "\(table) has row-level security, and its UPDATE "
                    + (policies.count == 1
                        ? "policy \(policies[0]) does" : "policies \(policies.joined(separator: ", ")) do")
                    + " not let this role write every row it can read")
        }
        if !rules.isEmpty {
            why.append(
                "\(rules.count == 1 ? "a rule" : "rules") on UPDATE of \(table) (\(rules.joined(separator: ", ")))")
        }
        guard !why.isEmpty else { return nil }
        return "the write passed over \(count.counted("row")) whose values differ from the input's, which it "
            + "read and meant to change: \(why.joined(separator: "; or "))"
    }

    /// The table this update's name resolves to on `connection` (``TableIdentity``), `nil` when
    /// there is none.
    public func target(on connection: PostgresConnection) async throws -> TableIdentity? {
        let sql = try validate(serverVersion: connection.serverVersion)
        return try await TableIdentity.read(literal: sql.targetLiteral, on: connection)
    }

    /// Whether row-level security applies to this role on the table (`row_security_active`): rows
    /// it does not find may be hidden from it rather than absent.
    public func rowSecurityActive(on connection: PostgresConnection) async throws -> Bool {
        let sql = try validate(serverVersion: connection.serverVersion)
        return try await connection.execute(
            "SELECT coalesce(row_security_active(to_regclass(\(sql.targetLiteral))), false)"
        ).scalar.boolValue ?? false
    }

    /// Finds the columns compared by their text (``SQL/textComparedColumns``): a case-only edit
    /// of a `citext` is a change, which the review shows, the apply writes and the undo restores.
    func readTextCompared(_ sql: inout SQL, on connection: PostgresConnection) async throws {
        let names = Set(try await connection.execute(sql.textComparedColumns).rows.compactMap { $0.first?.stringValue })
        sql.textCompared = Set(columns.indices.filter { names.contains(columns[$0].name) })
    }

    /// Fails when the table is not ``expectedTarget``; hands it to ``targetResolved``.
    private func checkTarget(_ sql: SQL, on connection: PostgresConnection) async throws {
        guard expectedTarget != nil || targetResolved != nil,
            let found = try await TableIdentity.read(literal: sql.targetLiteral, on: connection)
        else { return }
        if let expectedTarget, expectedTarget != found {
            let (who, again) =
                guarded ? ("apply changed", "") : ("review read", " (or review this one: run the plan again)")
            throw BulkUpdateError(
                table: table, phase: .prepare, reason: .otherTable,
                message: "this connection finds \(table) as \(found), not as \(expectedTarget), the table the \(who): "
                    + "connect to database \(expectedTarget.database), with schema \(expectedTarget.schema) first on the "
                    + "search_path, as the \(who.prefix { $0 != " " }) did\(again)")
        }
        try await targetResolved?(found)
    }

    /// The target table's columns, in table order (``SQL/targetColumns``): what a message about
    /// a column the table lacks lists.
    public func tableColumns(on connection: PostgresConnection) async throws -> [String] {
        try await tableColumns(try validate(serverVersion: connection.serverVersion), on: connection).map(\.name)
    }

    /// ``tableColumns(on:)`` with the statements in hand, and what the refusal search fills an
    /// added row's unwritten columns with.
    func tableColumns(_ sql: SQL, on connection: PostgresConnection) async throws -> [SQL.TargetColumn] {
        try await connection.execute(sql.targetColumns).rows.compactMap { row in
            guard let name = row[0].stringValue, let type = row[3].stringValue else { return nil }
            return SQL.TargetColumn(
                name: name, defaultValue: row[1].stringValue, generated: row[2].stringValue, type: type)
        }
    }

    /// Checks the configuration and returns its statements.
    func validate(serverVersion: Int) throws(BulkUpdateError) -> SQL {
        func fail(_ message: String) -> BulkUpdateError {
            BulkUpdateError(table: table, phase: .begin, reason: .invalidConfiguration, message: message)
        }
        guard !columns.isEmpty else { throw fail("no columns to update") }
        guard !columns.contains(where: { $0.name == key }) else {
            throw fail("the key column \(key) cannot also be updated")
        }
        guard Set(columns.map(\.name)).count == columns.count else { throw fail("a column is listed twice") }
        guard undoBatchSize > 0 else { throw fail("undoBatchSize must be positive") }
        guard (concurrentPriorReadRows ?? 1) > 0 else { throw fail("concurrentPriorReadRows must be positive") }
        guard mode == .update || !guarded else { throw fail("only an update can be guarded") }
        guard !deletesInserted || (guarded && mode == .update) else {
            throw fail("only a guarded update can delete inserted rows")
        }
        do {
            return try SQL(update: self, serverVersion: serverVersion)
        } catch {
            throw fail(error.message)
        }
    }

    /// What ``copy(_:into:on:keys:spool:)`` sent: the rows, and per updated column how many gave
    /// it a value (what ``SQL/inputCounts`` and ``SQL/filledCounts`` count, as long as no row
    /// leaves the input table).
    struct Copied {
        var rows = 0
        var filled: [Int]
        /// The values for timestamp columns that carried an offset (``InputRows/offsetTimestamps``).
        var offsetTimestamps: [OffsetTimestamps] = []
        /// `[rows, filled...]`, as ``SQL/inputCounts`` reads them.
        var counts: [Int] { [rows] + filled }
    }

    /// Copies the input into the input table (``SQL/copyInput``), each key into `keys` and every
    /// row sent into `spool`. `rows` numbers them: it has projected the input's first rows when
    /// the input is what is left of one (``copyAhead``).
    func copy<Input: AsyncSequence>(
        _ input: Input, into sql: SQL, on connection: PostgresConnection, rows: inout InputRows, keys: inout KeyTracker,
        spool: CopySpool?
    ) async throws -> Copied where Input.Element == Batch {
        let firstRow = rows.count
        do {
            _ = try await connection.copyIn(sql.copyInput, binary: rows.encoding) { writer in
                writer.spool = spool
                for try await batch in input {
                    let indices = try rows.indices(in: batch)
                    for source in batch.rows {
                        try await writer.write(row: rows.project(source, at: indices, keys: &keys))
                    }
                }
            }
            return rows.copied
        } catch let error as PostgresError where error.refusesACopiedValue {
            throw BulkUpdateError(
                invalidInput: error.renumberingCopyLine { $0 + firstRow }, table: table, key: key,
                sentKeys: rows.sentKeys)
        }
    }

    /// `error`, when the server refused a value of an input row whose key `rows` kept, again with
    /// that key named (the copies from a spool cannot name it).
    func namingKey(_ error: BulkUpdateError, from rows: InputRows) -> BulkUpdateError {
        guard error.reason == .invalidValue, error.key == nil, let underlying = error.underlying else { return error }
        return BulkUpdateError(invalidInput: underlying, table: table, key: key, sentKeys: rows.sentKeys)
    }

    /// The input's rows as the input table takes them (``inputColumns``, in order; an empty
    /// string as NULL unless ``exactValues``), counted and numbered, their keys checked present
    /// and tracked, and per updated column how many give it a value.
    struct InputRows {
        let names: [String]
        let table: String
        let key: String
        let exactValues: Bool
        /// Rows projected so far.
        private(set) var count = 0
        /// Their keys, to name the row of a value the server refuses.
        private(set) var sentKeys = SentKeys()
        private(set) var filled: [Int]
        private var row: [Value] = []
        /// The binary encoding of the input table's columns (``SQL/copyInput``), or `nil` when a
        /// type has none: the server then stores the rows without parsing text (half the COPY's
        /// time at 1M rows). Set, with the positions below, by ``describeInput(_:on:into:)``.
        var encoding: BinaryCopyEncoding?
        /// Where a row holds a `json` or `jsonb` column: a list, an
        /// object, a number or a boolean goes there as its JSON text (`true`, not the `t` a
        /// `bool` takes); a string is JSON text already (a CSV cell, a query's JSON scalar).
        var jsonPositions: [Int] = []
        /// Where a row holds an array column (`text[]`, `int[]`, ...): a list goes there as an
        /// array literal (`{"a","b,c"}`), and so does a string holding a JSON list (the audit
        /// CSV's spelling of one); any other string is the column's own text already.
        var arrayPositions: [Int] = []
        /// Where a row holds an integer column (`int2`, `int4`, `int8`, or a domain over one): a
        /// whole number that came as a double (`3.0`, as some APIs write every number) goes there
        /// as the integer it is, which PostgreSQL's integer input would refuse as text, and so does
        /// text spelling one as JSON would (``wholeNumber(written:)``: a CSV cell, the audit
        /// trail's `3.0`); `3.5` stays, for the server to refuse.
        var integerPositions: [Int] = []
        /// Where a row holds an array of integers (`int[]`, or of a domain over one): a whole
        /// number in its list goes in as the integer it is, as in ``integerPositions``.
        var integerArrayPositions: [Int] = []
        /// Where a row holds a `timestamp` without time zone (or a domain or an array of one): a
        /// value there that carries an offset, which PostgreSQL drops, is counted
        /// (``offsetTimestamps``).
        var timestampPositions: [Int] = []
        /// Per position of ``timestampPositions``, the values that carried an offset, and the first.
        private var offsets: [Int: (values: Int, example: String)] = [:]

        init(_ update: BulkUpdate) {
            names = update.inputColumns
            table = update.table
            key = update.key
            exactValues = update.exactValues
            filled = [Int](repeating: 0, count: update.columns.count)
            row.reserveCapacity(names.count)
        }

        var copied: Copied { Copied(rows: count, filled: filled, offsetTimestamps: offsetTimestamps) }

        /// The values for timestamp columns that carried an offset so far, per column in COPY order.
        var offsetTimestamps: [OffsetTimestamps] {
            offsets.sorted { $0.key < $1.key }.map { position, found in
                OffsetTimestamps(column: names[position], values: found.values, example: found.example)
            }
        }

        /// Where `batch` holds each input column.
        func indices(in batch: Batch) throws(BulkUpdateError) -> [Int] {
            try names.map { name throws(BulkUpdateError) in
                guard let index = batch.index(of: name) else {
                    throw BulkUpdateError(
                        table: table, phase: .copy, reason: .missingColumn, column: name,
                        message: "the input has no column \(name) (it has \(batch.columns.joined(separator: ", ")))")
                }
                return index
            }
        }

        /// The next row, from `source` (a row of a batch whose ``indices(in:)`` are `indices`).
        mutating func project(
            _ source: [Value], at indices: [Int], keys: inout KeyTracker
        ) throws(BulkUpdateError) -> [Value] {
            count += 1
            row.removeAll(keepingCapacity: true)
            for index in indices {
                let value = source[index]
                if !exactValues, case .string(let s) = value, s.isEmpty {
                    row.append(.null)
                } else {
                    row.append(value)
                }
            }
            for position in integerPositions {
                switch row[position] {
                case .double, .decimal: if let whole = row[position].intValue { row[position] = .int(whole) }
                case .string(let text): if let whole = Self.wholeNumber(written: text) { row[position] = .int(whole) }
                default: break
                }
            }
            if row[0].isNull {
                throw BulkUpdateError(
                    table: table, phase: .copy, reason: .missingKey, inputRow: count, column: key,
                    message: "input row \(count) has no \(key)")
            }
            keys.add(row[0])
            sentKeys.add(row[0])
            for index in filled.indices where !row[1 + index].isNull { filled[index] += 1 }
            for position in jsonPositions {
                switch row[position] {
                case .null, .string: break
                case let value: row[position] = .string(JSON.encode(value))
                }
            }
            for position in arrayPositions {
                let integers = integerArrayPositions.contains(position)
                switch row[position] {
                case .array: row[position] = .string(Self.arrayLiteral(row[position], integers: integers))
                case .string(let text) where text.hasPrefix("["):
                    if let list = try? JSON.decode(text), case .array = list {
                        row[position] = .string(Self.arrayLiteral(list, integers: integers))
                    } else if integers, let literal = Self.wholeElements(of: text) {
                        row[position] = .string(literal)  // `[1:2]={1.0,2}`: bounds, then braces
                    }
                case .string(let text) where integers:
                    if let literal = Self.wholeElements(of: text) { row[position] = .string(literal) }
                default: break
                }
            }
            for position in timestampPositions { noteOffset(in: row[position], at: position) }
            return row
        }

        /// The integer `text` is when it spells a whole number as a JSON number with a point or
        /// an exponent (`3.0`, `3.00`, `1e3`, `-2.0E1`), read as an API's answer is (``JSON``),
        /// so a CSV cell takes what that number from an API would. `nil` otherwise: `3.5`, and
        /// text PostgreSQL reads as an integer itself (`3`, ` 3`, `+3`), which goes on as written.
        static func wholeNumber(written text: String) -> Int64? {
            var decimal = false
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): decimal = true
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"): break
                default: return nil
                }
            }
            guard decimal, let number = try? JSON.decode(text) else { return nil }
            return number.intValue
        }

        /// `text`, an array literal in PostgreSQL's spelling (`{1.0,2}`, `{{1.0,NULL},{2,3}}`), with
        /// each element that ``wholeNumber(written:)`` reads as an integer written as that
        /// integer, so a CSV cell spelled so takes what the same list as JSON does; `nil` when no
        /// element is one. A quoted element is read without its quotes (`{"1.0"}` is `{1}`, as
        /// `{"1"}` is `{1}` to the server: quotes only quote). `NULL`, `1.5` and anything else
        /// stay for the server.
        static func wholeElements(of text: String) -> String? {
            var literal = ""
            var element = ""
            var depth = 0
            var changed = false
            var quoted = false
            var escaped = false
            func endElement() {
                // PostgreSQL takes white space around an unquoted element.
                let bare = String(element.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
                if depth > 0, let whole = wholeNumber(written: unquoted(bare)) {
                    literal += String(whole)
                    changed = true
                } else {
                    literal += element
                }
                element = ""
            }
            for character in text {
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    quoted.toggle()
                } else if !quoted, "{},".contains(character) {
                    endElement()
                    depth += character == "{" ? 1 : character == "}" ? -1 : 0
                    literal.append(character)
                    continue
                }
                element.append(character)
            }
            endElement()
            return changed ? literal : nil
        }

        /// `element` without the quotes around it and the backslashes in it (`"1.0"` is `1.0`), or
        /// as it is when it is not one quoted whole (`1.0`, `"1"2`).
        private static func unquoted(_ element: String) -> String {
            guard element.count >= 2, element.first == "\"", element.last == "\"" else { return element }
            var inner = ""
            var escaped = false
            for character in element.dropFirst().dropLast() {
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                    continue
                } else if character == "\"" {
                    return element
                }
                inner.append(character)
            }
            return escaped ? element : inner
        }

        /// Counts `value` when it is a timestamp (or an array literal of some) with an offset.
        private mutating func noteOffset(in value: Value, at position: Int) {
            guard case .string(let text) = value else { return }
            let found: Substring?
            if arrayPositions.contains(position) {
                // `{"2024-01-01 00:00:00+05",...}`: a timestamp has no comma, brace or quote.
                found = text.split(separator: ",").lazy.map(Self.arrayElement).first {
                    OffsetTimestamps.hasOffset(String($0))
                }
            } else {
                found = OffsetTimestamps.hasOffset(text) ? Substring(text) : nil
            }
            guard let found else { return }
            if offsets[position] != nil {
                offsets[position]?.values += 1
            } else {
                offsets[position] = (1, String(found.prefix(OffsetTimestamps.exampleLimit)))
            }
        }

        /// A piece of an array literal between commas without the braces, quotes and spaces around it.
        static func arrayElement(_ piece: Substring) -> Substring {
            let kept = { (character: Character) in !"{}\" ".contains(character) }
            guard let first = piece.firstIndex(where: kept), let last = piece.lastIndex(where: kept) else { return "" }
            return piece[first...last]
        }

        /// PostgreSQL's literal for an array: every string quoted (so commas, braces, quotes and
        /// backslashes are its own), `NULL` for null, lists nested, objects as quoted JSON. With
        /// `integers` (an array of integers), a whole number that came as a double is the integer.
        static func arrayLiteral(_ value: Value, integers: Bool = false) -> String {
            switch value {
            case .null: return "NULL"
            case .array(let items):
                return "{" + items.map { arrayLiteral($0, integers: integers) }.joined(separator: ",") + "}"
            case .string(let text): return quoted(text)
            case .object: return quoted(JSON.encode(value))
            case .double, .decimal:
                if integers, let whole = value.intValue { return String(whole) }
                return value.text ?? "NULL"
            default: return value.text ?? "NULL"
            }
        }

        private static func quoted(_ text: String) -> String {
            "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
    }

    /// Reads the input table's column types once (``SQL/columnTypes``) into `rows`: the COPY's
    /// binary encoding (``InputRows/encoding``), where its `json` and `jsonb` columns are
    /// (``InputRows/jsonPositions``), its array columns (``InputRows/arrayPositions``) and those
    /// holding integers, through domains and array elements (``InputRows/integerPositions``). A
    /// `json` column (not `jsonb`) is refused: PostgreSQL has no equality for it, so no change to
    /// it could be told from none.
    func describeInput(_ sql: SQL, on connection: PostgresConnection, into rows: inout InputRows) async throws {
        let types = try await connection.execute(sql.columnTypes).rows
        let oids = types.map { $0[0].intValue ?? 0 }
        if let position = oids.indices.dropFirst().first(where: { oids[$0] == 114 }) {
            let column = inputColumns[position]
            throw BulkUpdateError(
                table: table, phase: .prepare, reason: .invalidConfiguration, column: column,
                message:
                    "column \(column) of \(table) is of type json, which PostgreSQL cannot compare (there is no "
                    + "json = json), so the apply cannot tell which rows change; make it jsonb "
                    + "(ALTER TABLE \(table) ALTER COLUMN \(column) TYPE jsonb) or apply to a jsonb column")
        }
        rows.jsonPositions = oids.indices.filter { [114, 3802].contains(oids[$0]) }
        let arrays = types.map { $0[3].boolValue == true }
        rows.arrayPositions = arrays.indices.filter { arrays[$0] }
        // Through domains and to an array's elements: a domain over int, or an int[], takes `3.0`
        // as a plain int column does.
        let integers = types.map { [20, 21, 23].contains($0.count > 5 ? $0[5].intValue ?? 0 : 0) }
        rows.integerPositions = integers.indices.filter { integers[$0] && !arrays[$0] }
        rows.integerArrayPositions = integers.indices.filter { integers[$0] && arrays[$0] }
        // The key and the columns written (not an undo's expected values): their values only are
        // looked at, and only for a timestamp without time zone.
        rows.timestampPositions = types.indices.prefix(1 + columns.count).filter {
            types[$0].count > 6 && types[$0][6].boolValue == true
        }
        let binary = types.map { row in
            (
                oid: UInt32(truncatingIfNeeded: row[0].intValue ?? 0),
                modifier: Int32(truncatingIfNeeded: row[1].intValue ?? -1)
            )
        }
        rows.encoding = binary.count == inputColumns.count ? BinaryCopyEncoding(types: binary) : nil
    }

    /// A spool for the COPY's bytes, or `nil` (logged) when no temporary file can be made: then
    /// the prior values are read on the main connection.
    private func makeSpool(logger: Logger) -> CopySpool? {
        do {
            return try CopySpool(directory: spoolDirectory, limit: spoolLimit)
        } catch {
            logger.debug("reading the prior values before the update", metadata: ["reason": "\(error.message)"])
            return nil
        }
    }

    /// Streams the matched rows from `connection` (the main one, or the ``PriorReader``): counts
    /// them into `stats.matched` and the conflicts of a guarded update into `stats.conflicts`,
    /// hands the prior values of those that will change to `undo`, then counts and samples the
    /// keys with no row — or, for an upsert or insert, hands those rows to `undo` as inserted.
    /// Returns how many rows `undo` got.
    func recordPrior(
        _ sql: SQL, on connection: PostgresConnection, into stats: inout BulkUpdateStats,
        undo: (Batch) async throws -> Void
    ) async throws -> Recorded {
        var recorded = Recorded()
        let columns = undoColumns
        // An insert matches no row (it checked), so it has no prior values to read.
        if mode != .insert {
            recorded.prior = try await recordMatched(sql, on: connection, into: &stats, undo: undo)
        }
        guard mode == .update else {
            // The rows it adds: the key, no prior values, the values written, inserted.
            let noPrior = [Value](repeating: .null, count: self.columns.count)
            _ = try await connection.stream(sql.newRows, batchSize: undoBatchSize) { batch in
                let rows = batch.rows.map { row in [row[0]] + noPrior + row.dropFirst() + [.bool(true)] }
                recorded.added += rows.count
                try await undo(Batch(columns: columns, rows: rows))
            }
            return recorded
        }
        stats.unknownKeys = stats.inputRows - stats.duplicateRows - stats.driftedInputRows - stats.matched
        if stats.unknownKeys > 0 {
            stats.unknownKeySamples = try await connection.execute(sql.unknownKeys).rows.compactMap { $0.first?.text }
        }
        return recorded
    }

    /// The matched rows' part of ``recordPrior(_:on:into:undo:)``; returns how many prior values
    /// `undo` got. The rows are counted first; under the table lock nothing changes them in
    /// between, so when none will change there is nothing to read.
    private func recordMatched(
        _ sql: SQL, on connection: PostgresConnection, into stats: inout BulkUpdateStats,
        undo: (Batch) async throws -> Void
    ) async throws -> Int {
        var prior = 0
        let columns = undoColumns
        let sampleLimit = sampleLimit
        // An upsert's records end with the inserted flag: false for the rows it updates.
        let updatedFlag: [Value] = mode == .update ? [] : [.bool(false)]
        let counts = try await connection.execute(sql.matchedCount).rows.first
        stats.matched = Int(counts?.first?.intValue ?? 0)
        guard counts?.last?.intValue != 0 else { return 0 }
        // Each row: the undo columns, guarded a flag per column changed since, then "changes",
        // then "has a cell changed since".
        let recordWidth = 1 + 2 * self.columns.count
        // An added row's value written since in a column the apply did not write: its own flag.
        let names =
            self.columns.map(\.name) + (sql.inserted != nil && !sql.unwritten.isEmpty ? [Self.unwrittenCells] : [])
        _ = try await connection.stream(sql.matchedRows, batchSize: undoBatchSize) { batch in
            var changing: [[Value]] = []
            for row in batch.rows {
                let changes = row[row.count - 2] == .bool(true)
                if changes { changing.append(Array(row.prefix(recordWidth)) + updatedFlag) }
                guard row[row.count - 1] == .bool(true) else { continue }
                stats.conflicts += 1
                if changes { stats.partlyChanged += 1 }
                if stats.conflictSamples.count < sampleLimit, let key = row[0].text {
                    stats.conflictSamples.append(key)
                }
                for (index, name) in names.enumerated() where row[recordWidth + index] == .bool(true) {
                    stats.conflictCells[name, default: 0] += 1
                }
            }
            prior += changing.count
            if !changing.isEmpty { try await undo(Batch(columns: columns, rows: changing)) }
        }
        if guarded, stats.conflicts > 0 {
            connection.logger.warning(
                "cells changed since they held the values expected are left as they are",
                metadata: [
                    "db.table": "\(table)", "apply.conflicts": "\(stats.conflicts)",
                    "apply.partly_changed": "\(stats.partlyChanged)",
                ])
        }
        return prior
    }

    /// Whether ``inputKeysDistinctAsUUIDs`` proves the copied keys distinct.
    func keysProvenDistinct(_ keys: KeyTracker) -> Bool {
        keys.kind == .uuid && inputKeysDistinctAsUUIDs?() == true
    }

    /// A ``KeyTracker`` for the input's key column: one that keeps no fingerprints (it gives up
    /// at the first key) when ``inputKeysDistinctAsUUIDs`` will answer for a `uuid` key, since the
    /// tracker would prove nothing more. Either way, keys not proven distinct are checked by the
    /// server.
    func keyTracker(_ sql: SQL, on connection: PostgresConnection, limit: Int) async throws -> KeyTracker {
        let kind = try await keyKind(sql, on: connection)
        return KeyTracker(kind: kind, limit: kind == .uuid && inputKeysDistinctAsUUIDs != nil ? 0 : limit)
    }

    /// How the input's key column compares values, for the ``KeyTracker``.
    private func keyKind(_ sql: SQL, on connection: PostgresConnection) async throws -> KeyTracker.Kind {
        let row = try await connection.execute(sql.keyType).rows.first
        switch (row?.first?.stringValue, row?.last?.boolValue) {
        case ("uuid", _): return .uuid
        case ("smallint", _), ("integer", _), ("bigint", _): return .integer
        case ("text", true): return .text
        default: return .other
        }
    }

    /// Copies the reviewed cells into this session's table of them (``SQL/reviewed``), a row per key.
    private func loadReviewed<Reviewed: AsyncSequence>(
        _ sql: SQL, reviewed: Reviewed, on connection: PostgresConnection
    ) async throws where Reviewed.Element == Batch {
        _ = try await connection.execute(sql.createReviewed)
        var pivot = ReviewedRows(columns: columns.map(\.name))
        _ = try await connection.copyIn(sql.copyReviewed) { writer in
            for try await batch in reviewed {
                for cell in batch.rows {
                    guard let column = pivot.column(of: cell) else {
                        throw BulkUpdateError(
                            table: table, phase: .check, reason: .invalidConfiguration,
                            message:
                                "the review has a cell of column \(cell.count > 1 ? cell[1].text ?? "" : ""), which "
                                + "this apply does not write: it was made for another plan")
                    }
                    if let row = pivot.add(cell, column: column) { try await writer.write(row: row) }
                }
            }
            if let row = pivot.finish() { try await writer.write(row: row) }
        }
    }

    /// Compares the cells the write would change now, on the locked table, with the reviewed
    /// ones (``loadReviewed(_:reviewed:on:)``); see ``run(on:input:reviewed:onDrift:undo:)``.
    private func holdToReview(
        _ sql: SQL, onDrift: OnDrift, on connection: PostgresConnection, into stats: inout BulkUpdateStats
    ) async throws {
        _ = try await connection.execute(sql.driftedRows)
        let rows = try await connection.execute(sql.driftSummary).rows
        guard let total = rows.first?[1].intValue, total > 0 else { return }
        stats.drifted = Int(total)
        let names = sql.driftColumns.map { columns[$0].name }
        stats.driftSamples = rows.map { Self.driftSample($0, columns: names) }
        if onDrift == .fail {
            let keys = rows.compactMap { $0[0].text }
            // Not the table's doing: said, since "changed since the review" sends one looking for a writer.
            let inputOnly =
                rows.allSatisfy { $0.count > 2 && $0[2] == .bool(true) }
                ? " (\(BulkUpdateError.inputDriftPhrase): the input reads as other values now, as "
                    + "an input such as now or today does, or a setting of the session reads it otherwise)" : ""
            throw BulkUpdateError(
                table: table, phase: .check, reason: .drift, key: keys.first, keys: keys,
                message:
                    "\(total) row(s) of \(table) \(BulkUpdateError.driftPhrase): \(stats.driftSamples.joined(separator: "; "))\(total > rows.count ? "; ..." : "")\(inputOnly); "
                    + "review again (run the plan, or its apply, anew), or set on_drift: skip to apply the rest")
        }
        stats.driftedInputRows = try await connection.execute(sql.deleteDrifted).affectedRows
        connection.logger.warning(
            "rows changed since the review are left as they are",
            metadata: ["db.table": "\(table)", "apply.drifted": "\(total)"])
    }

    /// A drifted row of ``SQL/driftSummary`` (its cells of `columns`, by name) as a message names
    /// it: `KEY (reviewed isrc A -> B; now isrc C -> B)`. Values as the review shows them
    /// (``ReviewCells/named(_:comparing:)``): on one line, and a difference that would not show
    /// (a tab, a no-break space, `é` composed or not) written as codes, each value against the
    /// other of its pair and against the same one reviewed or now.
    static func driftSample(_ row: [Value], columns: [String]) -> String {
        var parts: [String] = []
        for (position, name) in columns.enumerated() {
            let cell = Array(row.dropFirst(3 + position * 6).prefix(6))
            guard cell.count == 6 else { break }
            // Reviewed old, reviewed new, old now, new now.
            let shown = ReviewCells.named(
                [cell[1].text, cell[2].text, cell[4].text, cell[5].text], comparing: [(0, 1), (2, 3), (0, 2), (1, 3)])
            if cell[0] == .bool(true) { parts.append("reviewed \(name) \(shown[0]) -> \(shown[1])") }
            if cell[3] == .bool(true) { parts.append("now \(name) \(shown[2]) -> \(shown[3])") }
        }
        return "\(row.first?.text.map(ReviewCells.shown) ?? "") (\(parts.joined(separator: "; ")))"
    }

    /// Drops rows that repeat a key with the same values; fails for a key given different values.
    ///
    /// Distinct keys are the rule, so it first tries to prove them distinct by building a unique
    /// index over them (a sort: ~0.3 s per million uuids, where the `GROUP BY` below takes ~0.9 s),
    /// which fails on any repeat; only then does it look for the repeats. `inTransaction`: run the
    /// attempt behind a savepoint, so its failure leaves the transaction usable.
    func removeDuplicates(_ sql: SQL, on connection: PostgresConnection, inTransaction: Bool) async throws -> Int {
        if try await keysProvenDistinctByIndex(sql, on: connection, inTransaction: inTransaction) { return 0 }
        guard try await !connection.execute(sql.anyDuplicate).rows.isEmpty else { return 0 }
        let conflicting = try await connection.execute(sql.conflictingDuplicates).rows.compactMap { $0.first?.text }
        guard conflicting.isEmpty else {
            let list = conflicting.joined(separator: ", ")
            throw BulkUpdateError(
                table: table, phase: .check, reason: .duplicateKeys, key: conflicting.first, keys: conflicting,
                message: "the input gives different values for the same \(key): \(list)")
        }
        return try await connection.execute(sql.deleteDuplicates).affectedRows
    }

    /// Whether a unique index over the input's keys can be built (then dropped). Any refusal —
    /// a repeated key (which the server logs as an error), a key type without a btree operator
    /// class — is a "no": the `GROUP BY` decides.
    private func keysProvenDistinctByIndex(
        _ sql: SQL, on connection: PostgresConnection, inTransaction: Bool
    ) async throws -> Bool {
        if inTransaction { _ = try await connection.execute("SAVEPOINT sluice_apply_keys") }
        do {
            _ = try await connection.execute(sql.createKeyIndex)
            _ = try await connection.execute(sql.dropKeyIndex)
            if inTransaction { _ = try await connection.execute("RELEASE SAVEPOINT sluice_apply_keys") }
            return true
        } catch let error as PostgresError where error.kind == .server {
            if inTransaction { _ = try await connection.execute("ROLLBACK TO SAVEPOINT sluice_apply_keys") }
            return false
        }
    }

    /// For an upsert or an insert, which add rows: that the server can tell a new key from an
    /// existing one (``checkConflictArbiter(_:on:)``), and that a row holding only the key and
    /// the written columns is one the table takes. A column that must hold a value and has no
    /// default refuses every added row, and every row of an upsert, whose proposed row the server
    /// checks before it finds the conflict. Found before the input is copied. An update adds no
    /// rows: nothing to check.
    func checkRowsCanBeAdded(_ sql: SQL, on connection: PostgresConnection) async throws {
        guard mode != .update else { return }
        if mode == .upsert { try await checkConflictArbiter(sql, on: connection) }
        try await checkRequiredColumns(sql, on: connection)
    }

    /// What ``checkRowsCanBeAdded(_:on:)`` finds, asked of the catalog alone (no input table, no
    /// transaction): for a run's preflight, before the stages ahead of the apply spend an API's
    /// quota on rows the table would refuse.
    public func checkRowsCanBeAdded(on connection: PostgresConnection) async throws {
        guard mode != .update else { return }
        let sql = try validate(serverVersion: connection.serverVersion)
        if mode == .upsert, try await connection.execute(sql.keyHasUniqueIndex).scalar.boolValue != true {
            throw BulkUpdateError(
                table: table, phase: .prepare, reason: .noUniqueKey,
                message: "\(table) needs a primary key or unique constraint on \(key) alone for mode: upsert")
        }
        try await checkRequiredColumns(sql, on: connection)
    }

    /// The columns the update finds rows by and writes: what its errors may show values of.
    var keyAndColumns: Set<String> { Set([key] + columns.map(\.name)) }

    private func checkRequiredColumns(_ sql: SQL, on connection: PostgresConnection) async throws {
        let written = keyAndColumns
        let required = try await connection.execute(sql.requiredColumns).rows.compactMap { $0.first?.text }
            .filter { !written.contains($0) }
        guard !required.isEmpty else { return }
        let names = required.map { "'\($0)'" }.joined(separator: ", ")
        let plural = required.count > 1
        throw BulkUpdateError(
            table: table, phase: .prepare, reason: .invalidConfiguration,
            message:
                "mode: \(mode.rawValue) adds rows holding only \(key) and the columns this apply writes, but "
                + "\(table) needs a value in column\(plural ? "s" : "") \(names) (NOT NULL, no default): write "
                + "\(plural ? "them" : "it") too, give \(plural ? "them" : "it") a default, or use mode: update")
    }

    /// Whether each key matches at most one row of the target: always for an upsert (which
    /// requires a unique index on the key) and an insert (which adds rows), and for an update
    /// when the key has a unique index of its own. Otherwise the input's keys are checked once
    /// copied (``refuseKeysMatchingSeveralRows(_:on:)``).
    func keyMatchesOneRow(_ sql: SQL, on connection: PostgresConnection) async throws -> Bool {
        guard mode == .update else { return true }
        return try await connection.execute(sql.keyMatchesOneRow).scalar.boolValue ?? false
    }

    /// An update matches each input row to one table row by its key: with no unique index on
    /// the key, fails naming the input keys that match several rows, before anything is written
    /// (it would write each of them, record prior values no undo could tell apart, and count
    /// more rows changed than matched).
    func refuseKeysMatchingSeveralRows(_ sql: SQL, on connection: PostgresConnection) async throws {
        let rows = try await connection.execute(sql.keysMatchingSeveralRows).rows
        guard let total = rows.first?.last?.intValue.map(Int.init) else { return }
        let keys = rows.compactMap { $0.first?.text }
        let list = keys.joined(separator: ", ") + (total > keys.count ? ", ..." : "")
        throw BulkUpdateError(
            table: table, phase: .check, reason: .invalidConfiguration, key: keys.first, keys: keys, column: key,
            message:
                "\(key) is not unique in \(table): \(total.counted("key")) of the input \(total == 1 ? "matches" : "match") "
                + "more than one row (\(list)); an apply writes each input row to the one row its key names: "
                + "use a key with a unique index (a primary key), or add one")
    }

    /// An upsert needs a unique index on the key alone to tell an existing row from a new one.
    /// Planning the upsert (EXPLAIN, on the still empty input) finds out before the input is
    /// copied.
    private func checkConflictArbiter(_ sql: SQL, on connection: PostgresConnection) async throws {
        do {
            _ = try await connection.execute("EXPLAIN (COSTS OFF) " + sql.upsert)
        } catch let error as PostgresError where error.kind == .server && error.sqlState == "42P10" {
            throw BulkUpdateError(noConflictArbiter: error, table: table, key: key, phase: .prepare)
        }
    }

    /// An insert adds new rows only: fails naming the keys already in the table.
    func refuseExistingKeys(_ sql: SQL, on connection: PostgresConnection) async throws {
        let rows = try await connection.execute(sql.existingKeys).rows
        guard let total = rows.first?.last?.intValue else { return }
        let keys = rows.compactMap { $0.first?.text }
        let list = keys.joined(separator: ", ") + (total > keys.count ? ", ..." : "")
        throw BulkUpdateError(
            table: table, phase: .check, reason: .existingKeys, key: keys.first, keys: keys,
            message:
                "\(total) \(key) value(s) of the input are already in \(table): \(list) "
                + "(mode: insert adds new rows only; mode: upsert also updates existing ones)")
    }

    /// Gives the input table statistics on its key. Without them the server plans it as holding
    /// 200 distinct keys, and joins it with the table by hashing the whole table (in batches on
    /// disk, for a big one) however few rows the input has. Known distinct, a few keys get a merge
    /// or nested-loop join, many a hash of the input: at a million rows the first stretch's write
    /// (20,000 rows) took 150 ms instead of 375. A 3,000-row sample is enough to see the keys
    /// distinct: 1–10 ms.
    func analyzeInput(_ sql: SQL, on connection: PostgresConnection) async throws {
        for statement in sql.analyzeInput { _ = try await connection.execute(statement) }
    }

    /// Runs the write statement (and an undo's DELETE) behind a savepoint so a constraint
    /// violation can be traced to its key.
    func write(_ sql: SQL, on connection: PostgresConnection) async throws -> Written {
        // Under the lock, just before the write: exactly what it writes (``readBack``).
        let intended = sql.readsBack ? try await connection.execute(sql.recordIntended).affectedRows : 0
        _ = try await connection.execute("SAVEPOINT sluice_apply_update")
        do {
            var written = Written(
                rows: try await connection.execute(sql.recordedWrite).affectedRows, statements: 1, intended: intended)
            if let delete = sql.deleteInserted { written.deleted = try await connection.execute(delete).affectedRows }
            return written
        } catch let error as PostgresError
            where error.kind == .server && ["23514", "23502", "23503", "23505", "23P01"].contains(error.sqlState)
        {
            _ = try await connection.execute("ROLLBACK TO SAVEPOINT sluice_apply_update")
            let violation = await classify(error, sql: sql, on: connection)
            let found = try? await findViolation(error, violation, sql: sql, on: connection)
            // A foreign key or unique index whose row is not found: the server's own words.
            if found == nil, ["23503", "23505"].contains(error.sqlState) {
                throw BulkUpdateError(table: table, phase: .update, postgres: error)
            }
            // Else the constraint said as the table defines it (schema, not data).
            var definition: String?
            if found == nil, let constraint = error.constraint {
                definition = try? await connection.execute(sql.constraintDefinition, [.string(constraint)]).scalar
                    .stringValue
            }
            throw BulkUpdateError(
                violation: error, violated: violation, table: table, offending: found?.row,
                columns: columns.map(\.name), constrained: found?.constrained ?? [], definition: definition)
        } catch let error as PostgresError where error.kind == .server && error.sqlState == "42501" {
            // "new row violates row-level security policy": which row, and which policy, as for a
            // constraint; a missing privilege (the same SQLSTATE) finds no policy and is said as it is.
            _ = try await connection.execute("ROLLBACK TO SAVEPOINT sluice_apply_update")
            guard let found = try? await findPolicyViolation(sql, on: connection) else { throw error }
            throw BulkUpdateError(
                violation: error, violated: .rowSecurity(policies: found.policies, unpermitted: found.unpermitted),
                table: table, offending: found.row, columns: columns.map(\.name), constrained: found.constrained)
        } catch let error as PostgresError where error.kind == .server && error.sqlState == "42P10" {
            throw BulkUpdateError(noConflictArbiter: error, table: table, key: key, phase: .update)
        }
    }

    /// The first row the target's row-level security refuses, the policies it fails and the
    /// columns they read. An update holds its new rows to the UPDATE policies' `WITH CHECK` and
    /// the SELECT ones' `USING`; an insert (and an upsert, before it finds a conflict: for every
    /// input row) the row it proposes to add to the INSERT policies' `WITH CHECK` (and, when it
    /// reads the rows back, the SELECT ones'); an upsert's `ON CONFLICT DO UPDATE` the existing row
    /// to the UPDATE and SELECT policies' `USING`, and the updated one as an update does. A row
    /// must pass one permissive policy of each and each restrictive one: each of those is a
    /// condition of its own, and the first row failing one of them names it (and the others it
    /// is also the first of). Where row-level security applies to this role and no permissive
    /// policy covers a command, it permits no row at all (`unpermitted`: `INSERT`, `UPDATE`,
    /// `SELECT`), and the first row names that instead. `nil` when no row fails a policy.
    private func findPolicyViolation(
        _ sql: SQL, on connection: PostgresConnection
    ) async throws -> (row: [Value], policies: [String], unpermitted: [String], constrained: [String])? {
        typealias Checked = SQL.CheckedRows
        let checks: [(command: Character, check: Bool, rows: Checked)] =
            switch mode {
            case .update: [("w", true, .updated), ("r", false, .updated)]
            case .insert: [("a", true, .proposed)] + (sql.readsBack ? [("r", false, .proposed)] : [])
            case .upsert:
                [
                    ("a", true, .proposed), ("r", false, .proposed), ("w", false, .existing), ("r", false, .existing),
                    ("w", true, .updated), ("r", false, .updated),
                ]
            }
        // (names, condition, columns, rows) per condition: a group of permissive ones, or a restrictive
        // one; or, with no permissive one where row-level security applies, none (`unpermitted`).
        typealias Condition = (
            names: [String], unpermitted: [String], condition: String, columns: [String], rows: Checked
        )
        var conditions: [Condition] = []
        let secured = try await rowSecurityActive(on: connection)
        for (command, check, rows) in checks {
            let policies = try await connection.execute(sql.rowPolicies(for: command, check: check)).rows
            func parts(_ rows: [[Value]]) -> (names: [String], expressions: [String], columns: [String]) {
                (
                    rows.compactMap { $0[0].stringValue }, rows.compactMap { $0[2].stringValue },
                    rows.flatMap { $0[3].stringValue?.split(separator: ",").map(String.init) ?? [] }
                )
            }
            let permissive = parts(policies.filter { $0[1].boolValue == true })
            if !permissive.names.isEmpty {
                let any = permissive.expressions.map { "(\($0))" }.joined(separator: " OR ")
                conditions.append((permissive.names, [], any, permissive.columns, rows))
            } else if secured {
                let verb = ["a": "INSERT", "w": "UPDATE"][command] ?? "SELECT"
                conditions.append(([], [verb], "false", [], rows))
            }
            for restrictive in policies where restrictive[1].boolValue == false {
                let part = parts([restrictive])
                conditions.append((part.names, [], part.expressions.first ?? "true", part.columns, rows))
            }
        }
        let targetColumns = try await tableColumns(sql, on: connection)
        var first: (row: [Value], policies: [String], unpermitted: [String], constrained: [String])?
        for (names, unpermitted, condition, columns, rows) in conditions {
            let violation = try sql.violation(targetColumns: targetColumns, condition: condition, rows: rows)
            guard let row = try await connection.execute(violation).rows.first, let key = row.first?.text else {
                continue
            }
            if let found = first, let firstKey = found.row.first?.text {
                guard Self.key(key, comesByOrWith: firstKey) else { continue }
                if key == firstKey {
                    first = (
                        found.row, found.policies + names, found.unpermitted + unpermitted, found.constrained + columns
                    )
                    continue
                }
            }
            first = (row, names, unpermitted, columns)
        }
        return first
    }

    /// Whether key `a` comes before `b`, or is it: numbers by their value (a key 9 before a key
    /// 10, as the search's queries order an integer key), anything else by its text.
    static func key(_ a: String, comesByOrWith b: String) -> Bool {
        if let x = Int64(a), let y = Int64(b) { return x <= y }
        return a <= b
    }

    /// What `error` says the new values break. A CHECK violation without a constraint's name is
    /// the target's partitioning (a row no partition takes, or one outside a partition's bounds),
    /// told by the catalog rather than by the message, which `lc_messages` may translate.
    private func classify(
        _ error: PostgresError, sql: SQL, on connection: PostgresConnection
    ) async -> BulkUpdateError.Violation {
        if let constraint = error.constraint { return .constraint(constraint) }
        switch error.sqlState {
        case "23502":
            return .notNull(column: error.column)
        case "23514":
            let row = try? await connection.execute(sql.partitioning).rows.first
            return row?[1].boolValue == true && row?[0].boolValue != true ? .partitionBounds : .noPartition
        default:
            return .other(error.message)
        }
    }

    /// The first key whose new values violate the failed constraint, and those values; for a
    /// foreign key, a unique index or a partitioning, the target's columns it constrains too. For
    /// an upsert's CHECK, NOT NULL or partitioning, the first of the rows it proposes and of the
    /// rows it updates.
    private func findViolation(
        _ error: PostgresError, _ violation: BulkUpdateError.Violation, sql: SQL, on connection: PostgresConnection
    ) async throws -> (row: [Value], constrained: [String])? {
        let condition: String
        var constrained: [String] = []
        if violation == .noPartition || violation == .partitionBounds {
            guard let text = try await connection.execute(sql.partitionCondition).scalar.stringValue else { return nil }
            condition = text
            constrained = try await connection.execute(sql.partitionKeyColumns).rows.compactMap {
                $0.first?.stringValue
            }
        } else if error.sqlState == "23502", let column = error.column {
            condition = "\(try PostgresConnection.quoteIdentifierPart(column)) IS NOT NULL"
        } else if error.sqlState == "23503", let constraint = error.constraint {
            // The target's own key; not one of another table referencing a value written here.
            let pairs = try await connection.execute(sql.foreignKeyColumns, [.string(constraint)]).rows
            guard let first = pairs.first, let table = first[2].stringValue else { return nil }
            constrained = pairs.compactMap { $0[0].stringValue }
            let referenced = pairs.compactMap { $0[1].stringValue }
            guard constrained.count == pairs.count, referenced.count == pairs.count else { return nil }
            condition = sql.meetsForeignKey(
                try constrained.map(PostgresConnection.quoteIdentifierPart),
                referencing: try referenced.map(PostgresConnection.quoteIdentifierPart), of: table,
                matchFull: first[3].stringValue == "f")
        } else if error.sqlState == "23505", let constraint = error.constraint {
            constrained = try await connection.execute(sql.uniqueIndexColumns, [.string(constraint)]).rows.compactMap {
                $0.first?.stringValue
            }
            guard !constrained.isEmpty else { return nil }
            condition = sql.meetsUniqueIndex(try constrained.map(PostgresConnection.quoteIdentifierPart))
        } else if error.sqlState == "23P01", let constraint = error.constraint {
            let pairs = try await connection.execute(sql.exclusionColumns, [.string(constraint)]).rows
            constrained = pairs.compactMap { $0[0].stringValue }
            let operators = pairs.compactMap { $0[1].stringValue.map { "OPERATOR(\($0))" } }
            guard let elements = pairs.first?[2].intValue, elements == pairs.count, constrained.count == pairs.count,
                operators.count == pairs.count
            else { return nil }
            condition = sql.meetsExclusion(
                Array(zip(try constrained.map(PostgresConnection.quoteIdentifierPart), operators)))
        } else if let constraint = error.constraint {
            let definition = try await connection.execute(sql.constraintDefinition, [.string(constraint)]).scalar
            guard var text = definition.stringValue, text.hasPrefix("CHECK ") else { return nil }
            text.removeFirst("CHECK ".count)
            if text.hasSuffix(" NOT VALID") { text.removeLast(" NOT VALID".count) }
            condition = text
        } else {
            return nil
        }
        // An upsert's CHECK, NOT NULL and partitioning hold each row it proposes, before its key is
        // found in the table (an existing one's other columns then their defaults too), and the
        // row it updates; a foreign key, unique index or exclusion constraint the row written.
        let proposes = mode == .upsert && !["23503", "23505", "23P01"].contains(error.sqlState)
        let targetColumns = try await tableColumns(sql, on: connection)
        var first: [Value]?
        for rows in proposes ? [SQL.CheckedRows.proposed, .updated] : [.written] {
            let statement = try sql.violation(targetColumns: targetColumns, condition: condition, rows: rows)
            guard let row = try await connection.execute(statement).rows.first, let key = row.first?.text else {
                continue
            }
            if let found = first?.first?.text, Self.key(found, comesByOrWith: key) { continue }
            first = row
        }
        return first.map { ($0, constrained) }
    }
}

/// What a ``BulkUpdate`` did (or, for a dry run, would have done).
public struct BulkUpdateStats: Sendable, Hashable {
    /// Rows read from the input.
    public var inputRows = 0
    /// Input rows dropped because they repeat another row exactly.
    public var duplicateRows = 0
    /// Distinct input keys found in the target.
    public var matched = 0
    /// Rows whose values differed and were (or would be) updated.
    public var changed = 0
    /// Rows an upsert or insert added (or would add).
    public var inserted = 0
    /// Rows the undo of an upsert or insert deleted: rows that apply had added.
    public var deleted = 0
    /// Distinct input keys not found in the target, for an update (an upsert or insert adds
    /// them: ``inserted``).
    public var unknownKeys = 0
    /// Up to ``BulkUpdate/sampleLimit`` of those keys, sorted.
    public var unknownKeySamples: [String] = []
    /// Per column (``BulkUpdate/countsFilled`` only), the distinct input keys given a value (not
    /// empty, or for ``BulkUpdate/exactValues`` not NULL) that the table has or gets: an update's
    /// unknown keys are not counted, so the table holds at least this many values afterwards.
    public var filled: [Int] = []
    public var dryRun: Bool
    /// The prior values were read on a second connection while the UPDATE ran
    /// (``BulkUpdate/concurrentPriorReadRows``), rather than before it.
    public var priorReadConcurrently = false
    /// Write statements run (UPDATE, upsert or INSERT): none when nothing changes, more than
    /// one when rows were written while the input was read (``BulkUpdate/writesWhileCopying``).
    public var writeStatements = 0
    /// The connection was lost while COMMIT was in flight and the server, asked on a new
    /// connection, confirmed that the transaction committed.
    public var commitConfirmedAfterConnectionLoss = false
    /// The table was analyzed after COMMIT (``BulkUpdate/analyzeShare``).
    public var analyzed = false

    /// Rows of an update held to a review that changed since the review (``BulkUpdate/OnDrift``):
    /// left as they are.
    public var drifted = 0
    /// Up to ``BulkUpdate/sampleLimit`` of them: the key, then what the review saw and what is there now.
    public var driftSamples: [String] = []
    /// Input rows set aside because they drifted.
    public var driftedInputRows = 0
    /// Held to a review that recorded a fingerprint (``ReviewSummary/stateFingerprint``): the
    /// locked table gave the same one, so nothing could have drifted and the reviewed cells were
    /// not read.
    public var reviewFingerprintMatched = false
    /// What the table holds now that this update committed, for a later apply of the same input
    /// (``BulkUpdate/appliedState``); `nil` unless asked for (``BulkUpdate/recordsAppliedState``)
    /// and the review read it (see ``BulkUpdate/AppliedState``).
    public var appliedState: BulkUpdate.AppliedState?
    /// The table still held what an apply of the same input left (``BulkUpdate/appliedState``):
    /// nothing was written, and the input was not read.
    public var alreadyApplied = false
    /// The input's values for timestamp columns that carried an offset PostgreSQL dropped.
    public var offsetTimestamps: [OffsetTimestamps] = []

    /// Of a ``BulkUpdate/guarded`` update's matched rows, those with a cell changed since: one
    /// holding neither the expected value nor the new one, left as it is (the row's other cells
    /// are written).
    public var conflicts = 0
    /// Up to ``BulkUpdate/sampleLimit`` of their keys.
    public var conflictSamples: [String] = []
    /// Per column, how many of those rows have that cell changed since.
    public var conflictCells: [String: Int] = [:]
    /// Of the ``conflicts``, the rows whose other cells were written (counted in ``changed`` too).
    public var partlyChanged = 0

    /// The table has row-level BEFORE triggers that fire on the write, so the values stored
    /// were read back before COMMIT (``alteredByTrigger``).
    public var checkedTriggers = false
    /// Cells that hold, once written, another value than the one written (``BulkUpdate/storedColumns``):
    /// a trigger changed them (a cap, a normalization), or skipped their row.
    public var alteredByTrigger = 0
    /// The rows holding those cells.
    public var rowsAlteredByTrigger = 0
    /// Of those rows, the ones a trigger kept from being written at all (a BEFORE trigger
    /// returning NULL): not in ``changed`` either.
    public var rowsSkippedByTrigger = 0
    /// Up to ``BulkUpdate/sampleLimit`` of those cells, by key: `KEY COLUMN WRITTEN -> STORED`.
    public var alteredByTriggerSamples: [String] = []
    /// Rows an upsert or insert added in which a trigger filled a column the apply does not
    /// write and that has no default: their undo takes that value for someone else's and
    /// keeps the rows (``BulkUpdate/unwrittenCells``).
    public var rowsFilledByTrigger = 0
    /// Those columns, in table order.
    public var columnsFilledByTrigger: [String] = []

    /// Matched rows that already had the input's values.
    public var unchanged: Int { matched - changed - deleted - (conflicts - partlyChanged) }

    public init(dryRun: Bool) {
        self.dryRun = dryRun
    }
}

/// An array of batches as an async sequence: an input or a review held in memory.
public struct AsyncBatches: AsyncSequence, Sendable {
    public typealias Element = Batch
    let batches: [Batch]
    public init(_ batches: [Batch]) { self.batches = batches }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: IndexingIterator<[Batch]>
        public mutating func next() async -> Batch? { base.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: batches.makeIterator()) }
}

/// Turns a review's cells (`[key, column, old, new]`, the order the review wrote them: a row's
/// cells together) into rows of ``BulkUpdate/SQL/reviewed``: the key, then per column whether a
/// cell is listed, its old and new value (an empty text as NULL). Pure: no I/O.
struct ReviewedRows {
    /// The updated columns: a few, so a scan finds one faster than a hash would.
    let columns: [String]
    private var key: Value?
    /// A row's cells with nothing listed; then the row being filled.
    private let empty: [Value]
    private var cells: [Value]

    init(columns: [String]) {
        self.columns = columns
        empty = columns.indices.flatMap { _ in [Value.bool(false), .null, .null] }
        cells = [.null] + empty
    }

    /// The index of the cell's column, or `nil` when the update writes no such column.
    func column(of cell: [Value]) -> Int? {
        guard cell.count >= 4, case .string(let name) = cell[1] else { return nil }
        return columns.firstIndex(of: name)
    }

    /// Adds a cell; returns the row it completes (the previous key's), if any. A cell of a
    /// column the key already has starts a row of its own: the key then has two rows, which
    /// the drift check finds differing from what the write would do, so nothing is written
    /// on the strength of them.
    mutating func add(_ cell: [Value], column: Int) -> [Value]? {
        var done: [Value]?
        let listed = 1 + 3 * column
        if key != cell[0] || cells[listed] == .bool(true) { done = finish() }
        key = cell[0]
        cells[0] = cell[0]
        cells[listed] = .bool(true)
        cells[listed + 1] = Self.nullIfEmpty(cell[2])
        cells[listed + 2] = Self.nullIfEmpty(cell[3])
        return done
    }

    /// The last row, if any.
    mutating func finish() -> [Value]? {
        guard key != nil else { return nil }
        key = nil
        let row = cells
        cells.replaceSubrange(1..., with: empty)
        return row
    }

    private static func nullIfEmpty(_ value: Value) -> Value {
        if case .string(let text) = value, text.isEmpty { return .null }
        return value
    }
}
