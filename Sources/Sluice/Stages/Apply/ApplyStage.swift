import Foundation
import Logging
import SluiceApply
import SluiceCore
import SluicePipeline
import SluicePlan
import SluicePostgres
import Synchronization

/// Updates existing table rows from the input in one transaction (``BulkUpdate``): only rows
/// whose values differ are written, their prior values (and the values written) go to
/// `<stage>.undo.ndjson` before COMMIT, and a dry run does everything then rolls back. With
/// `mode: upsert` rows whose key is new are inserted too, and with `mode: insert` every row is;
/// the undo file then also lists the rows added, which undo deletes.
///
/// Counters: `input_rows`, `duplicate_rows`, `matched`, `changed` (rows updated), `unchanged`,
/// `unknown_keys`, `inserted` (upsert and insert only), `filled_<column>` (distinct keys given
/// a non-empty value for that column), which verify checks the table against, `analyzed`
/// (1 when the columns written were analyzed after COMMIT), `altered_by_trigger` (cells a
/// trigger stored other values in than written; only for a table with such triggers),
/// `skipped_by_trigger` (of their rows, those a trigger kept from being written) and
/// `transaction_began` (``transactionBeganCounter``). Sends nothing downstream.
public struct ApplyStage: ReviewingStage, PreflightingStage, FinalOnReturnStage {
    /// The kind of the artifact holding the prior values of the rows an apply changed (what
    /// `sluice undo` puts back): recorded once the update committed, or may have.
    public static let undoArtifactKind = "undo"

    /// The counter that says whether the apply's transaction began: 0 from the stage's start, 1
    /// once `BEGIN` answered. An apply interrupted at 1 rolled back; at 0 it had started nothing
    /// on the server (``BulkUpdate/transactionBegan``). Absent from a manifest written before it
    /// was recorded.
    public static let transactionBeganCounter = "transaction_began"

    /// The run failed, or was interrupted, in an apply whose COMMIT it cannot know the outcome
    /// of (the connection died or stopped answering during it, and the server could not be
    /// asked): that apply kept its undo file, which no other apply that did not finish does. It
    /// may have applied, and nothing has undone it since.
    public static func mayHaveApplied(_ manifest: Manifest) -> Bool {
        !stagesThatMayHaveApplied(manifest).isEmpty
    }

    /// The apply stages of ``mayHaveApplied(_:)``.
    public static func stagesThatMayHaveApplied(_ manifest: Manifest) -> [String] {
        guard manifest.status == .failed || manifest.status == .interrupted else { return [] }
        return manifest.stages.filter { stage in
            stage.kind == "apply" && (stage.status == .failed || stage.status == .cancelled)
                && stage.committedAt == nil && stage.outputs.contains { $0.kind == undoArtifactKind }
                && !manifest.undos.contains { $0.stage == stage.name }
        }.map(\.name)
    }

    /// The run failed in an apply held to a review because rows changed since that review: a
    /// resume or a replay, held to the same review, would fail again.
    public static func failedOnDrift(_ manifest: Manifest) -> Bool {
        manifest.status == .failed && manifest.error?.message.contains(BulkUpdateError.driftPhrase) == true
    }

    /// Whether the drift ``failedOnDrift(_:)`` says of was the input's doing: the table holds
    /// what the review saw, and the input reads as other values now (`now`, a session setting).
    public static func failedOnInputDrift(_ manifest: Manifest) -> Bool {
        failedOnDrift(manifest) && manifest.error?.message.contains(BulkUpdateError.inputDriftPhrase) == true
    }

    /// What an apply wrote, from its counters (`rows`, its undo file's, when they are missing):
    /// "3 rows changed", or "91 rows: 1 updated, 90 inserted" when it added rows.
    public static func written(rows: Int, counters: [String: Int]) -> String {
        let inserted = counters["inserted", default: 0]
        guard inserted > 0 else { return "\(rows.counted("row")) changed" }
        let updated = counters["changed", default: rows - inserted]
        return "\(updated + inserted) rows: \(updated) updated, \(inserted) inserted"
    }

    public let name: String
    public var kind: String { "apply" }
    public let parameters: Value
    public let settings: ApplySettings
    let database: PostgresSettings
    /// Where the stage is in the plan (`plan.yaml:40:5`), for guard-rail messages.
    public var location: String?
    /// Where each parameter given was set (`plan.yaml:52:7`, `--set:1:20`), by its path in the
    /// stage: a guard-rail's message points at its limit.
    public var parameterLocations: [String: String] = [:]
    /// Go past the guard-rails, recording a warning (`--force`).
    public var force = false
    /// See ``BulkUpdate/inputKeysDistinctAsUUIDs``: set by a stage feeding it checked keys.
    public var inputKeysDistinctAsUUIDs: (@Sendable () -> Bool)?
    /// See ``BulkUpdate/writesWhileCopying``: set by a stage feeding it rows it reads from a
    /// file as fast as it can; the stage sets it itself for an input read back from a recorded
    /// spool (``spoolHolds(_:)``).
    public var writesWhileCopying = false
    /// For an input that is no recorded spool, so has no SHA-256 to key what applying it left
    /// by: a CSV streaming beside the apply (``CSVReapply``).
    var streamedState: StreamedState?

    /// Where a streamed input's applied state is kept, and what the stage is told about it.
    struct StreamedState: Sendable {
        var file: AppliedStateFile
        /// What an earlier apply of the same bytes kept, when the reader found the file unchanged.
        var earlier: AppliedStateFile.Recorded?
        /// Once the input is read: the SHA-256 of its bytes, kept with the state.
        var readSHA256: @Sendable () -> String?
        /// Called before the first row is asked for: the reader waits to hear whether to read.
        var willRead: @Sendable () -> Void
        /// Called by the review: unless a row was asked for, tells the reader not to read, and
        /// says whether it did (then the input ends with no rows, once the reader has recorded it).
        var skipUnlessRead: @Sendable () -> Bool
    }

    public init(name: String, settings: ApplySettings, database: PostgresSettings, parameters: Value) {
        self.name = name
        self.settings = settings
        self.database = database
        self.parameters = parameters
    }

    /// Before the run starts: the table and the columns it writes are there, so a plan that
    /// fetches for an hour does not find out at the end. Changes nothing. Anything else (the
    /// server cannot be reached, a password is wrong) is left to the stage that needs the
    /// database first, which says so as it always did.
    public func preflight(_ context: StageContext) async throws {
        do {
            try await checkTableAndColumns(context, when: "checked before the run started: nothing ran")
        } catch let error as StageError {
            throw error
        } catch {
            context.logger.debug("apply preflight skipped", metadata: ["error": "\(error)"])
        }
    }

    /// Fails naming what the table lacks (its columns, the nearest name), `when` saying when it
    /// was found; returns when the table has the key and every column.
    private func checkTableAndColumns(_ context: StageContext, when: String) async throws {
        let names = [settings.key] + settings.columns.map(\.column)
        let table = try PostgresConnection.quoteIdentifier(settings.table)
        let list = try names.map { name throws(PostgresError) in try PostgresConnection.quoteIdentifierPart(name) }
        // A server slow to answer is the first stage's to report: this waits for it briefly.
        var database = database
        database.connectTimeout = min(database.connectTimeout, 2)
        try await DatabaseConnector.with(database, for: context) { connection in
            // A lock the server's lock_timeout gave up on (a migration's ALTER TABLE): said as
            // what it is, this check's statement and who holds the lock.
            try await ServerTimeout.naming(
                "sluice's check of \(settings.table)", when: when, on: connection, table: settings.table,
                database: database,
                stage: name, connection: settings.connection
            ) {
                // A read-only session or standby, a grant missing: what the server would say only as
                // "permission denied for table items" while preparing the input. Said after what is
                // wrong in the plan (a misspelt column), which the server finds without the grants.
                let access = try await update.accessProblem(on: connection).map { problem in
                    let place = (parameterLocations["table"] ?? location).map { "\($0): error: stages.\(name).table: " }
                    return StageError(stage: name, (place ?? "") + problem.message + " (\(when))")
                }
                do {
                    try await checkShape(of: table, columns: list, names: names, when: when, on: connection, context)
                } catch let unseen as UnseenTable {
                    // No such table, or one in a schema the role may not use: the grant first.
                    throw access ?? unseen.failure
                } catch var error as StageError {
                    if let access { error.message += "\n" + access.message }
                    throw error
                } catch let error as PostgresError where error.sqlState == "42501" {
                    // Refused for the grant the access problem names.
                    throw access ?? error
                }
                if let access { throw access }
            }
        }
    }

    /// The apply's table is not there, as the role sees it: perhaps for a grant it lacks.
    private struct UnseenTable: Error {
        var failure: StageError
    }

    /// The checks of the plan's apply against its table: the key and columns there, none generated,
    /// each comparable, rows addable; fails with the first problem, located in the plan.
    private func checkShape(
        of table: String, columns list: [String], names: [String], when: String, on connection: PostgresConnection,
        _ context: StageContext
    ) async throws {
        do {
            // A session holding the table exclusively (`LOCK TABLE`, an `ALTER TABLE`) makes
            // even this wait: said, naming it, rather than a run that hangs without a word.
            _ = try await LockWaitWatcher.watching(
                connection, table: settings.table, database: database,
                applicationName: DatabaseConnector.applicationName(run: context.runID, stage: name),
                logger: context.logger
            ) {
                try await connection.execute("SELECT \(list.joined(separator: ", ")) FROM \(table) LIMIT 0")
            }
        } catch let error as PostgresError where error.sqlState == "42703" || error.sqlState == "42P01" {
            var message = "\(error.message) (\(when))"
            // Located where the plan names it, as a guard-rail is: the table, or the first
            // missing column (the key, or one of `columns`).
            var key = "table"
            if error.sqlState == "42703" {
                let has = try await update.tableColumns(on: connection)
                let missing = names.filter { !has.contains($0) }
                if let first = missing.first { key = first == settings.key ? "key" : "columns.\(first)" }
                message =
                    "table \(settings.table) has no column \(missing.map { "'\($0)'" }.joined(separator: ", ")) "
                    + "(it has: \(has.joined(separator: ", ")))"
                    + (missing.first.flatMap { Suggestion.nearest(to: $0, in: has) }.map {
                        "; did you mean '\($0)'?"
                    } ?? "")
                    + " (\(when))"
            }
            let place =
                (parameterLocations[key] ?? location).map { "\($0): error: stages.\(name).\(key): " } ?? ""
            let failure = StageError(stage: name, place + message)
            if error.sqlState == "42P01" { throw UnseenTable(failure: failure) }
            throw failure
        }
        // A generated column (or an identity GENERATED ALWAYS) takes no value: the write would
        // fail with "can only be updated to DEFAULT" after everything before it ran.
        let written = try settings.columns.map { column throws(PostgresError) in
            try PostgresConnection.quoteLiteral(column.column)
        }
        let generated = try await connection.execute(
            """
            SELECT attname::text, CASE WHEN attgenerated <> '' THEN 'generated' ELSE 'an identity GENERATED ALWAYS' END
            FROM pg_attribute WHERE attrelid = \(try PostgresConnection.quoteLiteral(table))::regclass
            AND attname IN (\(written.joined(separator: ", "))) AND (attgenerated <> '' OR attidentity = 'a')
            ORDER BY attnum
            """
        ).rows
        if let first = generated.first, let column = first[0].stringValue {
            let key = "columns.\(column)"
            let place =
                (parameterLocations[key] ?? location).map { "\($0): error: stages.\(name).\(key): " } ?? ""
            throw StageError(
                stage: name,
                place
                    + "column '\(column)' of \(settings.table) is \(first[1].stringValue ?? "generated"): the "
                    + "database computes it, and it cannot be written; remove it from the apply's columns (\(when))"
            )
        }
        try await refuseColumnsWithoutEquality(table: table, on: connection, when: when)
        do {
            try await update.checkRowsCanBeAdded(on: connection)
        } catch let error as BulkUpdateError where error.phase == .prepare {
            // Located at what to change: the key's unique index, or the mode that adds rows.
            let key = error.reason == .noUniqueKey ? "key" : "mode"
            let place =
                (parameterLocations[key] ?? parameterLocations["mode"] ?? location).map {
                    "\($0): error: stages.\(name).\(key): "
                } ?? ""
            throw StageError(stage: name, place + error.message + " (\(when))")
        }
    }

    /// Fails, located at the first column the apply writes whose type has no equality (`point`,
    /// `xml`, `json`): the apply compares each new value with the current one, and the server
    /// refused that only once the input was copied (`operator does not exist: point = point`).
    private func refuseColumnsWithoutEquality(
        table: String, on connection: PostgresConnection, when: String
    ) async throws {
        let columns = settings.columns.map(\.column)
        func comparison(_ names: [String]) throws -> String {
            let cells = try names.map { name throws(PostgresError) in
                let quoted = try PostgresConnection.quoteIdentifierPart(name)
                return "(\(quoted) IS DISTINCT FROM \(quoted))"
            }
            return "SELECT \(cells.joined(separator: ", ")) FROM \(table) LIMIT 0"
        }
        func comparable(_ names: [String]) async throws -> Bool {
            do {
                _ = try await connection.execute(comparison(names))
                return true
            } catch let error as PostgresError where error.sqlState == "42883" {
                return false
            }
        }
        guard !columns.isEmpty, try await !comparable(columns) else { return }
        for column in columns where try await !comparable([column]) {
            let type =
                try await connection.execute(
                    """
                    SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
                    WHERE attrelid = \(try PostgresConnection.quoteLiteral(table))::regclass \
                    AND attname = \(try PostgresConnection.quoteLiteral(column))
                    """
                ).scalar.stringValue ?? "its type"
            let fix =
                type == "json"
                ? "make it jsonb (ALTER TABLE \(settings.table) ALTER COLUMN \(column) TYPE jsonb)"
                : "write it to a column of a type with one, or remove it from the apply's columns"
            let key = "columns.\(column)"
            let place = (parameterLocations[key] ?? location).map { "\($0): error: stages.\(name).\(key): " } ?? ""
            throw StageError(
                stage: name,
                place + "column '\(column)' of \(settings.table) is of type \(type), which has no equality operator "
                    + "(\(type) = \(type)): the apply could not tell a changed value from an unchanged one; \(fix) "
                    + "(\(when))")
        }
    }

    /// What the review of an apply depends on: the table, its key, the columns it writes and
    /// how. A dry run, `on_drift`, `analyze` and the guard-rails, the table's and each column's,
    /// do not change what it shows: an approval given one stays held to the review.
    public func reviewedParameters(_ parameters: Value) -> Value {
        guard case .object(var all) = parameters else { return parameters }
        all = all.filter { ["table", "key", "key_field", "columns", "mode"].contains($0.key) }
        if case .object(let columns)? = all["columns"] {
            // Left out rather than kept in: a key added later decides the review until said otherwise.
            all["columns"] = .object(
                columns.mapValues { column in
                    guard case .object(let keys) = column else { return column }
                    return .object(keys.filter { !Self.columnGuardRails.contains($0.key) })
                })
        }
        return .object(all)
    }

    /// A column's guard-rails: checked against the review, never changing it.
    static let columnGuardRails: Set<String> = ["max_cleared", "max_updated", "min_coverage"]

    /// Whether the spool that carries the rows to the write when it writes them as they come
    /// (``BulkUpdate/spoolLimit``) holds the rows of `file`, whose values' COPY encoding is at
    /// most `expansion` times their text in it: files up to that share of the limit. A recorded
    /// input's values take at most about six times their NDJSON text (a one-digit number sent
    /// as an `int8`), hence its default of 8. A stat(2): call it off the cooperative pool.
    static func spoolHolds(_ file: URL, expansion: Int = 8) -> Bool {
        var status = stat()
        guard stat(file.path, &status) == 0 else { return false }
        return Int(status.st_size) <= BulkUpdate.defaultSpoolLimit / expansion
    }

    /// The update this stage runs.
    public var update: BulkUpdate {
        var update = BulkUpdate(
            table: settings.table, key: settings.key,
            columns: settings.columns.map {
                BulkUpdate.Column($0.column, onEmpty: $0.onEmpty == .keep ? .keep : .clear)
            },
            dryRun: settings.dryRun)
        update.mode = BulkUpdate.Mode(settings.mode)
        update.inputKeysDistinctAsUUIDs = inputKeysDistinctAsUUIDs
        update.writesWhileCopying = writesWhileCopying
        update.analyzeShare = settings.analyze ? 0.1 : nil
        return update
    }

    public func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        guard let input else { throw StageError(stage: name, "an apply stage needs an input") }
        var update = update
        // What an interruption undid: a transaction once BEGIN answered, else nothing started.
        let began = context.counters
        began.set(Self.transactionBeganCounter, 0)
        update.transactionBegan = { began.set(Self.transactionBeganCounter, 1) }
        // Rows read back from a spool (a replay, an approval) arrive as fast as the file is read.
        if !update.writesWhileCopying, let spool = input.spoolURL {
            update.writesWhileCopying = try await BlockingIO.run { Self.spoolHolds(spool) }
        }
        // The second connection's copy of the input goes beside the run's other spools.
        update.spoolDirectory = context.runDirectory.path
        // Verify compares the table with these counts; the server counts them on the input.
        update.countsFilled = true
        // Held to its review: the guard-rails before anything (even the undo file), then only the
        // reviewed changes are written.
        let reviewed = try context.review.map { review in
            try checkGuardRails(review, context: context)
            return ReviewFile(url: URL(fileURLWithPath: review.file.path), sha256: review.file.sha256)
        }
        // What the review read: the same on the locked table, and its cells need no reading. The
        // file is checked here instead, so an edited review is refused either way.
        let summary = context.review.flatMap { ReviewSummary(json: $0.summary) }
        let fingerprint = summary?.stateFingerprint
        // Values printed, compared and read as the review did them, wherever it is approved from.
        update.timeZone = summary?.timeZone
        update.dateStyle = summary?.dateStyle
        // The table the review read, not one of the same name elsewhere (another database, schema).
        update.expectedTarget = summary?.target
        // And no trigger it did not name (reviews recorded before it named them are not held to it).
        if let review = context.review, case .array = review.summary["triggers"] {
            update.expectedTriggers = summary?.triggers
        }
        if let reviewed, fingerprint != nil { try await reviewed.checkUnchanged() }
        let onDrift: BulkUpdate.OnDrift = settings.onDrift == .skip ? .skip : .fail
        // An input read back from a spool is named by its hash: what applying it left is kept, and
        // applying it again onto a table still holding that reads neither the input nor the rows.
        let stateFile =
            settings.dryRun || reviewed != nil
            ? nil
            : streamedState?.file
                ?? AppliedStateFile(
                    runDirectory: context.runDirectory, inputSHA256: input.spoolSHA256,
                    reviewedParameters: reviewedParameters(parameters))
        var earlierApply: String?
        if let stateFile {
            update.recordsAppliedState = true
            let recorded = streamedState == nil ? await stateFile.load() : streamedState?.earlier
            if let recorded {
                update.appliedState = recorded.state
                earlierApply = recorded.runID
            }
        }
        var applyInput = ApplyInput(base: input, settings: settings, stage: name)
        applyInput.willRead = streamedState?.willRead
        let undoURL = context.runDirectory.appendingPathComponent(UndoFile.fileName(stage: name))
        var undo = UndoFile(table: settings.table, key: settings.key, columns: update.columns.map(\.name), stage: name)
        undo.mode = update.mode
        // A dry run changes nothing, so it leaves no undo file; it counts what would change.
        let writer = settings.dryRun ? nil : try await UndoFile.Writer(at: undoURL, describing: undo)
        // Which table was changed, for the undo to restore that one or none.
        if let writer { update.targetResolved = { try await writer.appendTarget($0) } }
        if let writer, let created = await PrivateFile.identity(of: undoURL) {
            // A run directory removed (or the file replaced) while the apply ran would leave a
            // committed change with no undo anywhere: then nothing is committed.
            let stage = name
            update.beforeCommit = { transaction in
                guard await PrivateFile.identity(of: undoURL) == created else {
                    throw StageError(
                        stage: stage,
                        "the undo file \(undoURL.path) was removed or replaced while the apply ran (the run "
                            + "directory deleted?): rolled back, nothing changed, since the change could not be undone")
                }
                // What a later look asks the server about if the COMMIT's answer never comes.
                if let transaction { try await writer.appendTransaction(.int(transaction)) }
            }
        }
        var wouldChange = 0
        // A dry run names a few of the keys it would change, so a person can look them up.
        var sampleKeys: [String] = []
        let stats: BulkUpdateStats
        let applicationName = DatabaseConnector.applicationName(run: context.runID, stage: name)
        // Approved before the run got here (`--yes`): reviewed in the write's own transaction.
        var inline: ReviewWriter?
        if let recorder = context.reviewWhileRunning {
            inline = try await ReviewWriter(stage: name, context: context, earlier: recorder.earlier)
        }
        // Once COMMIT answers, before anything after it (an ANALYZE, which may wait): the undo file
        // closed and the figures recorded in the manifest, so that a process killed then leaves a
        // run that says the apply committed, not one that looks cut short in it.
        let closedAtCommit = ClosedAtCommit()
        let heldToReview = reviewed != nil || inline != nil
        if let writer {
            update.afterCommit = { [self] stats in
                do {
                    _ = try await Self.closeAndRecord(writer, in: context)
                    closedAtCommit.set(.success(()))
                } catch {
                    closedAtCommit.set(.failure(error))
                    return
                }
                count(stats, in: context.counters, heldToReview: heldToReview)
                await context.recordCommitted()
            }
        }
        do {
            let (result, wait) = try await DatabaseConnector.with(database, for: context) { connection in
                // A wait the server's lock_timeout ends: which limit, set where, and for whom.
                try await ServerTimeout.explaining(
                    on: connection, table: settings.table, database: database, named: settings.connection
                ) {
                    // Another apply to the table, or any writer, makes this wait: say so, and for whom.
                    try await LockWaitWatcher.watching(
                        connection, table: settings.table, database: database, applicationName: applicationName,
                        logger: context.logger, progress: context.progress
                    ) {
                        let storedColumns = update.storedColumns
                        let keep: (Batch) async throws -> Void = { batch in
                            // What a trigger stored instead of the values written: no row of its own.
                            if batch.columns == storedColumns {
                                try await writer?.appendStored(batch)
                                return
                            }
                            wouldChange += batch.count
                            if settings.dryRun, sampleKeys.count < 5 {
                                sampleKeys += batch.rows.prefix(5 - sampleKeys.count).compactMap { $0.first?.text }
                            }
                            try await writer?.append(batch)
                        }
                        if let reviewed {
                            return try await update.run(
                                on: connection, input: applyInput, reviewed: reviewed, fingerprint: fingerprint,
                                onDrift: onDrift, undo: keep)
                        }
                        if let inline, let recorder = context.reviewWhileRunning {
                            let streamedState = streamedState
                            let review = BulkUpdate.InlineReview(cells: inline.write) { summary, details in
                                // Not read (the table holds what applying the same rows left): the
                                // reader records them first, so the review names them as it would.
                                if let streamedState, streamedState.skipUnlessRead() { for try await _ in input {} }
                                // Every input row is in: a streaming upstream has finished by now.
                                inline.earlier = recorder.earlier
                                let review = try await inline.finish(
                                    summary, details: details, settings: settings, context: context)
                                await recorder.record(review)
                                try checkGuardRails(review, context: context)
                            }
                            return try await update.run(on: connection, input: applyInput, review: review, undo: keep)
                        }
                        return try await update.run(on: connection, input: applyInput, undo: keep)
                    }
                }
            }
            stats = result
            if let wait { context.notice(wait) }
        } catch let error as BulkUpdateError where !error.changedNothing {
            // It may have committed: the prior values are what puts the table back.
            if let writer {
                let summary = try await Self.closeAndRecord(writer, in: context)
                context.notice(
                    "whether the update committed is unknown; if it did, `sluice undo` on this run restores the "
                        + "\(writer.rows) prior values kept in \(summary.url.lastPathComponent)")
            }
            throw error
        } catch {
            // Not a file that went with a COMMIT (nothing throws after it, but the file must stay).
            if closedAtCommit.outcome == nil { await writer?.remove() }
            await inline?.abandon()
            // A table or column that is not there, a column that cannot be written (a generated
            // one, which an apply approved up front is not checked for before it starts), a
            // read-only server or a missing grant: said as the check before a run says it.
            if let underlying = (error as? BulkUpdateError)?.underlying ?? (error as? PostgresError),
                ["42703", "42P01", "428C9", "25006", "42501"].contains(underlying.sqlState)
            {
                try await checkTableAndColumns(context, when: "found before anything was written")
            }
            throw error
        }
        switch closedAtCommit.outcome {
        case .success?:
            break
        case .failure(let error)?:
            throw error
        case nil:
            // No COMMIT (the table held what this input left already): the file is closed here.
            if let writer { _ = try await Self.closeAndRecord(writer, in: context) }
        }
        if stats.commitConfirmedAfterConnectionLoss {
            context.notice("the connection was lost during COMMIT; the server confirmed that the update committed")
        }
        if stats.alreadyApplied {
            context.notice(
                "nothing to write: \(settings.table) still holds what applying this same input left (run "
                    + "\(earlierApply ?? "?")), so its \(stats.inputRows.counted("row")) were not read again")
        } else if let stateFile, let state = stats.appliedState {
            // Committed already: failing to keep the shortcut fails nothing.
            do {
                if let streamedState {
                    // Kept with the SHA-256 of the bytes read: a file that changed since is read again.
                    if let sha256 = streamedState.readSHA256() {
                        try await stateFile.save(state, runID: context.runID, inputSHA256: sha256)
                    }
                } else {
                    try await stateFile.save(state, runID: context.runID)
                }
            } catch {
                context.logger.warning(
                    "could not record what the apply left",
                    metadata: ["file": "\(stateFile.url.path)", "error": "\(error)"])
            }
        }
        let counters = context.counters
        count(stats, in: counters, heldToReview: heldToReview)
        if heldToReview, stats.drifted > 0 {
            context.notice(
                "\(stats.drifted) row(s) changed since the review and were left as they are (on_drift: skip): "
                    + stats.driftSamples.joined(separator: "; "))
        }
        if stats.checkedTriggers {
            if stats.alteredByTrigger > 0 { context.notice(alteredByTrigger(stats)) }
            if stats.rowsFilledByTrigger > 0 { context.notice(filledByTrigger(stats)) }
        }
        // Written as they are (they may be meant), but not without a word.
        for offsets in stats.offsetTimestamps { context.notice(offsets.note(table: settings.table)) }
        if stats.unknownKeys > 0 {
            let samples = RowChecker.keyList(stats.unknownKeySamples)
            let keys = stats.matched + stats.unknownKeys
            // A large share unknown is most often the wrong file: say what would have stopped it.
            let hint =
                settings.maxUnknown == nil && stats.unknownKeys * 10 > keys
                ? "; that is \(stats.unknownKeys * 100 / keys)% of the input's \(keys) keys "
                    + "(max_unknown stops such an apply before it writes)"
                : ""
            context.notice(
                "\(stats.unknownKeys) \(settings.key) value(s) are not in \(settings.table) (e.g. \(samples))\(hint)")
        }
        if settings.dryRun {
            // So that `sluice runs` can tell a dry run from an apply that changed the table.
            counters.set("dry_run", 1)
            // The first rows it would write: an upsert's, changed or added (the changed ones first).
            let examples =
                sampleKeys.isEmpty
                ? ""
                : "(\(update.mode == .upsert ? "changed or added, " : "")e.g. \(settings.key) "
                    + "\(sampleKeys.joined(separator: ", "))) "
            switch update.mode {
            case .update:
                context.notice(
                    "dry run: \(stats.changed) of \(stats.matched.counted("matched row")) in \(settings.table) would "
                        + "change " + examples + "(\(wouldChange) prior values read); nothing was written")
            case .upsert:
                context.notice(
                    "dry run: \(stats.changed) of \(stats.matched.counted("matched row")) in \(settings.table) would "
                        + "change and \(stats.inserted.counted("new row")) would be inserted " + examples
                        + "(\(wouldChange) rows recorded); nothing was written")
            case .insert:
                context.notice(
                    "dry run: \(stats.inserted.counted("row")) would be inserted into \(settings.table) " + examples
                        + "(\(wouldChange) rows recorded); nothing was written")
            }
        }
        var metadata: Logger.Metadata = [
            "apply.table": "\(settings.table)", "apply.changed": "\(stats.changed)",
            "apply.matched": "\(stats.matched)", "apply.dry_run": "\(settings.dryRun)",
            // How: written in stretches as the input was read (more than one), and whether a
            // second connection read the prior values beside the write.
            "apply.write_statements": "\(stats.writeStatements)",
            "apply.prior_read_beside_write": "\(stats.priorReadConcurrently)",
        ]
        if update.mode != .update {
            metadata["apply.mode"] = "\(update.mode.rawValue)"
            metadata["apply.inserted"] = "\(stats.inserted)"
        }
        context.logger.info("apply done", metadata: metadata)
    }
}

extension ApplyStage {
    /// Closes the undo file and records it among the stage's outputs (its sha256 and rows): at
    /// COMMIT, when the update found nothing to write, or when whether it committed is unknown.
    static func closeAndRecord(
        _ writer: UndoFile.Writer, in context: StageContext
    ) async throws
        -> PrivateFileWriter.Summary
    {
        let summary = try await writer.close()
        context.registerArtifact(at: summary.url, kind: undoArtifactKind, sha256: summary.sha256, rows: writer.rows)
        return summary
    }

    /// Sets the counters of what the update did (those the manifest records and verify checks):
    /// at COMMIT, and again at the end with what came after it (`analyzed`).
    func count(_ stats: BulkUpdateStats, in counters: StageCounters, heldToReview: Bool) {
        counters.set("input_rows", stats.inputRows)
        counters.set("duplicate_rows", stats.duplicateRows)
        counters.set("matched", stats.matched)
        counters.set("changed", stats.changed)
        counters.set("unchanged", stats.unchanged)
        counters.set("unknown_keys", stats.unknownKeys)
        if stats.analyzed { counters.set("analyzed", 1) }
        if settings.mode != .update { counters.set("inserted", stats.inserted) }
        if heldToReview { counters.set("drifted", stats.drifted) }
        if stats.checkedTriggers {
            counters.set("altered_by_trigger", stats.alteredByTrigger)
            counters.set("skipped_by_trigger", stats.rowsSkippedByTrigger)
        }
        for (column, filled) in zip(settings.columns, stats.filled) { counters.set("filled_\(column.column)", filled) }
    }

    /// Says that the table does not hold what the review showed: a trigger changed cells as they
    /// were written. The review showed the values written, and the apply committed without an
    /// error: without this notice nothing would tell the difference.
    func alteredByTrigger(_ stats: BulkUpdateStats) -> String {
        Self.triggerStored(
            table: settings.table, key: settings.key, written: "the apply wrote", cells: stats.alteredByTrigger,
            rows: stats.rowsAlteredByTrigger, samples: stats.alteredByTriggerSamples, dryRun: settings.dryRun)
            + "; the table holds the trigger's values, not the reviewed ones"
            + (settings.dryRun ? "" : ", and undo restores those rows as the apply's own writes")
    }

    /// Says that a trigger filled, in rows the apply added, a column it does not write and that
    /// has no default: an undo cannot tell that value from one someone wrote since, so it keeps
    /// those rows (and names them). Said when it happens, not first at the undo.
    func filledByTrigger(_ stats: BulkUpdateStats) -> String {
        let columns = stats.columnsFilledByTrigger.joined(separator: ", ")
        let those = stats.columnsFilledByTrigger.count == 1 ? "a column" : "columns"
        return "a trigger on \(settings.table) \(settings.dryRun ? "would fill" : "filled") \(columns) in "
            + "\(stats.rowsFilledByTrigger.counted("row")) the apply added (\(those) it does not write, with no default): "
            + "undo cannot tell such a value from one written since, so it would keep those rows and name them; "
            + "give \(stats.columnsFilledByTrigger.count == 1 ? "the column" : "them") a default (ALTER TABLE "
            + "\(settings.table) ALTER COLUMN ... SET DEFAULT ...) for undo to delete such rows"
    }

    /// How the apply and its undo say that a trigger stored other values than `written` (what
    /// the write meant to store), with a few of the cells: `a trigger on T stored other values
    /// than the apply wrote in 2 cells of 2 rows (id column written -> stored: ...)`.
    static func triggerStored(
        table: String, key: String, written: String, cells: Int, rows: Int, samples: [String], dryRun: Bool
    ) -> String {
        "a trigger on \(table) \(dryRun ? "would store" : "stored") other values than \(written) in "
            + "\(cells.counted("cell")) of \(rows.counted("row")) (\(key) column written -> stored: "
            + samples.prefix(5).joined(separator: "; ") + (cells > 5 ? "; ..." : "") + ")"
    }

    /// Reads what the apply would change (``BulkUpdate/review(on:input:cells:)``) and writes
    /// `review.csv` and `review.html` in the run directory.
    public func review(
        _ context: StageContext, input: StageInput, earlier: [Manifest.StageRecord]
    ) async throws
        -> Manifest.Review
    {
        let writer = try await ReviewWriter(stage: name, context: context, earlier: earlier)
        let applyInput = ApplyInput(base: input, settings: settings, stage: name)
        let update = update
        let reviewed: (summary: ReviewSummary, details: ReviewDetails)
        do {
            reviewed = try await DatabaseConnector.with(database, for: context) { connection in
                let settings = try await connection.execute(
                    "SELECT current_setting('TimeZone'), current_setting('DateStyle')"
                ).rows.first
                var made = try await update.reviewWithDetails(
                    on: connection, input: applyInput, cells: writer.write)
                made.summary.timeZone = settings?[0].stringValue
                made.summary.dateStyle = settings?[1].stringValue
                made.summary.target = try await update.target(on: connection)
                return made
            }
        } catch {
            await writer.abandon()
            throw error
        }
        // In the run's notices too: the run that stops at the gate says it, as the apply will.
        for note in reviewed.summary.offsetNotes { context.notice(note) }
        return try await writer.finish(
            reviewed.summary, details: reviewed.details, settings: settings, context: context)
    }

    /// Fails naming every guard-rail the review goes past, unless ``force`` (then each is a
    /// notice in the manifest and a warning in the log).
    func checkGuardRails(_ review: Manifest.Review, context: StageContext) throws {
        guard let summary = ReviewSummary(json: review.summary) else {
            throw StageError(stage: name, "the review recorded in the manifest has no summary to check")
        }
        let violations = ReviewGuardRails.check(summary, against: settings)
        guard !violations.isEmpty else { return }
        if force {
            for violation in violations {
                context.notice("--force: guard-rail overridden: \(violation)")
                context.logger.warning(
                    "guard-rail overridden with --force", metadata: ["apply.guard_rail": "\(violation.key)"])
            }
            return
        }
        throw StageError(
            stage: name,
            violations.map { violation in
                // Where the limit was set: its line in the plan, or the --set that gave it.
                let place = (parameterLocations[violation.key] ?? location).map { "\($0): " } ?? ""
                return "\(place)error: stages.\(name).\(violation)"
            }.joined(separator: "\n")
                + "\nnothing was changed; raise the limit in the plan, or pass --force to apply anyway")
    }
}

extension BulkUpdate.Mode {
    /// The plan's `mode`.
    init(_ mode: ApplyMode) {
        switch mode {
        case .update: self = .update
        case .upsert: self = .upsert
        case .insert: self = .insert
        }
    }
}

/// Whether an apply's undo file was closed at its COMMIT (``BulkUpdate/afterCommit``), and how
/// that went: `nil` until then.
private final class ClosedAtCommit: Sendable {
    private let state = Mutex<Result<Void, any Error>?>(nil)
    var outcome: Result<Void, any Error>? { state.withLock { $0 } }
    func set(_ outcome: Result<Void, any Error>) { state.withLock { $0 = outcome } }
}
