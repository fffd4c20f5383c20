import Foundation
import Logging
import SluiceApply
import SluiceCore
import SluicePipeline
import SluicePlan
import SluicePostgres
import Synchronization

/// Puts back what an apply stage changed, from the undo file it recorded in its run.
///
/// The undo file holds the prior values of exactly the rows the apply changed, and the values it
/// wrote; writing the prior values back (one transaction, NULLs restored as NULL, strings
/// exactly) returns those rows to their state before the apply. The rows an upsert or insert
/// added are deleted, in the same transaction. A cell that no longer holds what the apply wrote
/// (a later apply, a trigger or someone else changed it) is left as it is and reported, and the
/// row's other cells are restored; an added row that changed is not deleted. Undo never
/// overwrites or deletes a change it did not make.
public struct Undo: Sendable {
    public let runDirectory: URL
    public let manifest: Manifest
    public let database: PostgresSettings
    /// The apply stage's name.
    public let stage: String

    /// - Parameters:
    ///   - stage: the apply stage to undo; `nil` picks the run's only apply stage.
    /// - Throws: ``UndoError`` when the run has no such apply stage.
    public init(runDirectory: URL, manifest: Manifest, database: PostgresSettings, stage: String? = nil) throws {
        self.runDirectory = runDirectory
        self.manifest = manifest
        self.database = database
        self.stage = try Self.applyStage(in: manifest, named: stage)
    }

    /// Takes the database settings from the plan's connection of the apply stage.
    public init(runDirectory: URL, manifest: Manifest, plan: Plan, stage: String? = nil) throws {
        let name = try Self.applyStage(in: manifest, named: stage)
        guard let connection = plan.stage(named: name)?.apply?.connection else {
            throw UndoError("the plan has no apply stage '\(name)'")
        }
        guard let database = plan.connection(named: connection)?.postgres else {
            throw UndoError("the plan has no postgres connection '\(connection)' for stage '\(name)'")
        }
        try self.init(runDirectory: runDirectory, manifest: manifest, database: database, stage: name)
    }

    /// The undo file: the one the manifest records (checked against its SHA-256), or, when the
    /// run stopped before recording it, the file the stage writes in the run directory.
    public func undoFile() async throws -> URL {
        let record = manifest.stage(stage)
        // A replay lists the stages it skipped with the original's record, its undo file too:
        // that change is the original run's to undo, not this one's.
        if record?.status == .skipped, let origin = manifest.replayOf {
            throw UndoError(
                "stage '\(stage)' did not run in run \(manifest.runID) (a replay of run \(origin.runID), which it "
                    + "skipped), so this run changed nothing there; the apply is run \(origin.runID)'s: "
                    + "sluice undo \(origin.path)")
        }
        if let artifact = record?.outputs.first(where: { $0.kind == ApplyStage.undoArtifactKind }) {
            let url = artifact.url(in: runDirectory)
            let (sha256, _) = try await PrivateFile.sha256(of: url)
            guard sha256 == artifact.sha256 else {
                throw UndoError("\(url.path) has changed since the run recorded it (SHA-256 differs); not applying it")
            }
            return url
        }
        let url = runDirectory.appendingPathComponent(UndoFile.fileName(stage: stage))
        guard await BlockingIO.fileExists(atPath: url.path) else {
            switch record?.status {
            case .awaitingApproval, .pending, .skipped, .cancelled:
                // Cancelled once started, its transaction was rolled back; otherwise it never ran.
                let what =
                    record?.status == .cancelled && record?.startedAt != nil
                    ? "was cancelled and rolled back" : "did not run (\(record?.status.rawValue ?? ""))"
                throw UndoError(
                    "stage '\(stage)' of run \(manifest.runID) \(what), so it changed nothing; an approval "
                        + "(sluice replay \(manifest.runID) --from \(stage) --yes) is a run of its own: undo that run")
            default:
                throw UndoError(
                    "run \(manifest.runID) has no undo file for stage '\(stage)': "
                        + "the apply did not change anything, or was a dry run")
            }
        }
        return url
    }

    /// How far an undo got: what an interruption stopped (``run(logger:dryRun:progress:)``).
    public enum Phase: Sendable, Equatable {
        /// Reading the undo file: nothing started in the database.
        case reading
        /// Connecting, up to `BEGIN`: nothing started in the database.
        case connecting
        /// `BEGIN` answered: interrupted before COMMIT, the transaction rolls back.
        case inTransaction
    }

    /// Where an undo is (``Phase``), readable while it runs.
    public final class Progress: Sendable {
        private let value = Mutex(Phase.reading)
        public init() {}
        public var phase: Phase { value.withLock { $0 } }
        func set(_ phase: Phase) { value.withLock { $0 = phase } }
    }

    /// Writes the prior values back.
    /// - Parameters:
    ///   - dryRun: do everything, then roll back: the report says what an undo would restore
    ///     now, and nothing changes.
    ///   - progress: set as the undo goes, for whoever interrupts it to say what became of it.
    /// - Returns: what was restored (or would be).
    public func run(logger: Logger, dryRun: Bool = false, progress: Progress = Progress()) async throws -> UndoReport {
        let url = try await undoFile()
        let reader = try await UndoFile.Reader(url: url)
        let original = reader.undo
        var update = reader.update
        update.dryRun = dryRun
        update.transactionBegan = { progress.set(.inTransaction) }
        progress.set(.connecting)
        let applicationName = DatabaseConnector.applicationName(run: manifest.runID, stage: "undo")
        let (stats, hidden, dropped) = try await DatabaseConnector.with(
            database, logger: logger, applicationName: applicationName
        ) { connection in
            // A column dropped since the apply has nothing to restore into: the others are
            // restored, it is reported, and its prior values stay in the undo file.
            let dropped = try await update.droppedColumns(on: connection)
            if !dropped.isEmpty {
                guard dropped.count < update.columns.count else {
                    throw UndoError(
                        "\(original.table) no longer has any of the columns the apply wrote "
                            + "(\(dropped.joined(separator: ", ")): dropped since), so there is nothing to restore "
                            + "them into; their prior values stay in \(url.path). Nothing was changed")
                }
                update.columns.removeAll { dropped.contains($0.name) }
            }
            let stats = try await ServerTimeout.explaining(
                on: connection, table: original.table, database: database, then: "then run this undo again"
            ) {
                try await LockWaitWatcher.watching(
                    connection, table: original.table, database: database, applicationName: applicationName,
                    logger: logger
                ) {
                    try await update.run(on: connection, input: reader) { _ in }
                }.result
            }
            // Rows it did not find may be rows this role does not see, not rows deleted since.
            guard stats.unknownKeys > 0 else { return (stats, false, dropped) }
            return (stats, try await update.rowSecurityActive(on: connection), dropped)
        }
        return UndoReport(
            stage: stage, table: original.table, key: original.key, file: url, rows: stats.inputRows,
            matched: stats.matched, restored: stats.changed, unknownKeys: stats.unknownKeys,
            changedSince: stats.conflicts, changedSinceSamples: stats.conflictSamples,
            checkedChangesSince: original.hasWrittenValues, deleted: stats.deleted,
            deletesInserted: update.deletesInserted, partlyRestored: stats.partlyChanged,
            changedCells: (update.columns.map(\.name) + [BulkUpdate.unwrittenCells]).compactMap { name in
                stats.conflictCells[name].map { (name, $0) }
            }, dryRun: dryRun, unknownKeySamples: stats.unknownKeySamples, alteredByTrigger: stats.alteredByTrigger,
            rowsAlteredByTrigger: stats.rowsAlteredByTrigger, alteredByTriggerSamples: stats.alteredByTriggerSamples,
            rowsSkippedByTrigger: stats.rowsSkippedByTrigger, unknownMayBeHidden: hidden, droppedColumns: dropped)
    }

    /// The apply stage `name` of the run, or its only one when `name` is `nil`.
    /// - Throws: ``UndoError`` when there is no such stage, or several and no name.
    public static func applyStage(in manifest: Manifest, named name: String?) throws -> String {
        let applies = manifest.stages.filter { $0.kind == "apply" }
        if let name {
            guard applies.contains(where: { $0.name == name }) else {
                let names = applies.map(\.name)
                throw UndoError(
                    "run \(manifest.runID) has no apply stage '\(name)' (it has: \(names.joined(separator: ", ")))"
                        + (Suggestion.nearest(to: name, in: names).map { "; did you mean '\($0)'?" } ?? ""))
            }
            return name
        }
        guard let only = applies.first, applies.count == 1 else {
            throw UndoError(
                applies.isEmpty
                    ? "run \(manifest.runID) has no apply stage"
                    : "run \(manifest.runID) has several apply stages "
                        + "(\(applies.map(\.name).joined(separator: ", "))): name one")
        }
        return only.name
    }
}

/// What ``Undo`` restored.
public struct UndoReport: Sendable, CustomStringConvertible {
    public var stage: String
    public var table: String
    public var key: String
    public var file: URL
    /// Rows in the undo file.
    public var rows: Int
    /// Of those, keys still in the table.
    public var matched: Int
    /// Rows written back.
    public var restored: Int
    /// Keys no longer in the table.
    public var unknownKeys: Int
    /// Rows with a cell changed since the apply (holding neither what it wrote nor the prior
    /// value), left as it is; the row's other cells are restored (``partlyRestored``).
    public var changedSince: Int
    /// A few of their keys.
    public var changedSinceSamples: [String]
    /// The undo file records what the apply wrote, so cells changed since were detected (older
    /// files do not, and their undo restores every row).
    public var checkedChangesSince: Bool
    /// Rows the apply (an upsert or insert) had added, deleted.
    public var deleted = 0
    /// The apply was an upsert or insert: the rows it added are deleted.
    public var deletesInserted = false
    /// Of the ``changedSince`` rows, those whose other cells were restored (in ``restored`` too).
    public var partlyRestored = 0
    /// Per column (in the apply's order), how many ``changedSince`` rows have that cell changed.
    public var changedCells: [(column: String, rows: Int)] = []
    /// A dry run: the counts are what an undo would do now; it was rolled back.
    public var dryRun = false
    /// A few of the ``unknownKeys``: rows deleted since the apply, left deleted.
    public var unknownKeySamples: [String] = []
    /// Cells a trigger of the table stored other values in than the prior values written back:
    /// they do not hold their prior values, and no undo can put them back through the trigger.
    public var alteredByTrigger = 0
    /// The rows holding those cells (in ``restored`` unless skipped: ``rowsSkippedByTrigger``).
    public var rowsAlteredByTrigger = 0
    /// A few of those cells: `key column written -> stored`.
    public var alteredByTriggerSamples: [String] = []
    /// Of ``rowsAlteredByTrigger``, the rows a trigger kept from being written (not in ``restored``).
    public var rowsSkippedByTrigger = 0
    /// Row-level security is active on the table for this role: the ``unknownKeys`` may be rows
    /// it does not see rather than rows deleted since, and the undo is not complete.
    public var unknownMayBeHidden = false
    /// Columns the apply wrote that the table no longer has (dropped since): their prior values
    /// stay in the undo file, the other columns are restored, and the undo is not complete.
    public var droppedColumns: [String] = []

    /// Matched rows that already had their prior values.
    public var alreadyRestored: Int {
        matched - restored - deleted - (changedSince - partlyRestored) - rowsSkippedByTrigger
    }

    /// Some cells were left as they are, or a trigger stored other values than their prior
    /// ones: the undo is not complete.
    public var isPartial: Bool {
        changedSince > 0 || alteredByTrigger > 0 || hiddenKeys > 0 || (!droppedColumns.isEmpty && matched > 0)
    }

    /// The rows that do not hold all their prior values: changed since, or rewritten by a
    /// trigger (a row may be both), or perhaps hidden from this role, as the run's record counts them.
    /// With a column dropped, every row still in the table lacks its prior value there.
    public var rowsNotRestored: Int {
        (droppedColumns.isEmpty ? min(changedSince + rowsAlteredByTrigger, matched) : matched) + hiddenKeys
    }

    /// The ``unknownKeys`` when they may be hidden from this role (``unknownMayBeHidden``), else 0.
    private var hiddenKeys: Int { unknownMayBeHidden ? unknownKeys : 0 }

    /// Which of the rows with cells changed since had their other cells restored, and that
    /// rows the apply added are kept when changed since.
    private var restoredInPart: String {
        let were = dryRun ? "would be" : "were"
        var text =
            switch partlyRestored {
            case 0: ""
            case changedSince: "; \(changedSince == 1 ? "its" : "their") other cells \(were) restored"
            default: "; the other cells of \(partlyRestored) of them \(were) restored"
            }
        // Rows left whole may be rows the apply added: those are kept, nothing of them restored.
        if deletesInserted, changedSince > partlyRestored {
            text += "; a row the apply added is kept, not deleted, when changed since"
        }
        return text
    }

    public var description: String {
        // A dry run says what the undo would do, in the same words.
        let (restores, deletes, leaves) =
            dryRun ? ("would restore", "would delete", "would be left") : ("restored", "deleted", "left")
        let unknownListed: String = RowChecker.keyList(unknownKeySamples.prefix(5)) + (unknownKeys > 5 ? ", ..." : "")
        var text =
            "undo of '\(stage)'" + (dryRun ? " (dry run, rolled back: nothing changed)" : "")
            + ": \(restores) \(restored - partlyRestored)"
            + (partlyRestored > 0 ? " (and \(partlyRestored) in part)" : "") + " "
            + (deletesInserted ? "and \(deletes) \(deleted) (added by the apply) " : "") + "of \(rows) rows in \(table)"
            + (alreadyRestored > 0 ? " (\(alreadyRestored) already had their prior values)" : "")
            + (unknownKeys > 0 && !unknownMayBeHidden
                ? "; \(unknownKeys.counted("row")) the apply changed \(unknownKeys == 1 ? "is" : "are") no longer in "
                    + "the table (deleted since, left so): \(key) \(unknownListed)" : "")
        if hiddenKeys > 0 {
            text +=
                "\nnot undone: \(unknownKeys.counted("row")) the apply changed \(unknownKeys == 1 ? "is" : "are") not in "
                + "\(table) as this role sees it, and \(table) has row-level security: hidden from this role rather "
                + "than deleted, perhaps, and \(leaves) as \(unknownKeys == 1 ? "it is" : "they are"): \(key) "
                + "\(unknownListed); to restore \(unknownKeys == 1 ? "it" : "them"), run this undo again as a role "
                + "that sees \(unknownKeys == 1 ? "it" : "them") (the apply's)"
        }
        if !droppedColumns.isEmpty, matched > 0 {
            let (columns, their) =
                droppedColumns.count == 1
                ? ("column \(droppedColumns[0]) was", "its")
                : ("columns \(droppedColumns.joined(separator: ", ")) were", "their")
            text +=
                "\nnot undone: \(columns) dropped from \(table) after the apply, so \(their) prior values in the "
                + "\(matched.counted("row")) still in the table cannot be put back (the other columns \(dryRun ? "would be" : "were") "
                + "restored); \(their) prior values stay in \(file.path): to restore them, add the column back and "
                + "write them in by hand"
        }
        if changedSince > 0 {
            let rows = changedSince == 1 ? "1 row has" : "\(changedSince) rows have"
            let cells = changedCells.map { "\($0.column) (\($0.rows.counted("row")))" }
            text +=
                "\nnot undone: \(rows) cells changed after the apply (by a later apply, a trigger or someone "
                + "else), \(leaves) as they are: \(cells.joined(separator: ", ")); \(key) "
                + RowChecker.keyList(changedSinceSamples.prefix(5)) + (changedSince > 5 ? ", ..." : "")
                + restoredInPart
                + "; to restore them too, undo what changed them (a later apply first), then run this undo again"
        }
        if alteredByTrigger > 0 {
            text +=
                "\nnot restored: "
                + ApplyStage.triggerStored(
                    table: table, key: key, written: "the prior ones the undo wrote", cells: alteredByTrigger,
                    rows: rowsAlteredByTrigger, samples: alteredByTriggerSamples, dryRun: dryRun)
                + "; those cells hold the trigger's values, and undoing again cannot change that: disable the "
                + "trigger, or put them back by hand"
        }
        if !checkedChangesSince {
            text +=
                "\n(this undo file does not record what the apply wrote, so rows changed since "
                + (dryRun ? "would be overwritten)" : "were overwritten)")
        }
        return text
    }
}

/// Why an undo cannot run.
public struct UndoError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
