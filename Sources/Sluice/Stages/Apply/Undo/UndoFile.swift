import Foundation
import SluiceApply
import SluiceCore
import SluicePipeline

/// The prior values an apply replaced: what ``Undo`` writes back to restore the table.
///
/// NDJSON, mode 0600. Line 1 describes the update,
/// `{"columns":["spotify_popularity","isrc"],"key":"id","marks_commit":true,"stage":"apply","table":"tracks","written":true}`;
/// every later line is one row as a JSON array: the key, the prior value of each column, then
/// the value the apply wrote to each column (``BulkUpdate/undoColumns``), which undo checks a
/// row still holds before restoring it. Files without `"written"` (older ones) hold the key and
/// the prior values only, and their undo restores every row.
/// Rows are flushed to the kernel as the database hands them over, before the UPDATE commits,
/// so the file survives the process dying between the update and the end of the stage.
///
/// The file of an apply with `mode: upsert` or `mode: insert` says so in its header
/// (`"mode":"upsert"`; an update's header has no `mode`, as before) and also holds one line per
/// row the apply added, an object `{"inserted":[KEY, VALUE...]}`: the key and the value it
/// wrote to each column (on a table with row-level BEFORE triggers, the key and values as the
/// write returned them: what a trigger stored). Undo deletes such a row when it still holds those
/// values. Older versions of sluice refuse these lines rather than misread them.
///
/// When a trigger on the table stored other values than the apply wrote (a cap, a
/// normalization), the file ends with one line per such row, `{"stored":[KEY, VALUE...]}`: what
/// each column holds after the apply. Undo expects those values in the row instead of the ones
/// written, so it restores the row rather than take the trigger's change for someone else's.
/// Older versions of sluice refuse these lines too.
///
/// Line 2 of a file written since names the table the apply changed (``TableIdentity``),
/// `{"target":{"database":"shop","schema":"public","table":"tracks"}}`: undo restores that table
/// or nothing. Older versions of sluice refuse this line too.
public struct UndoFile: Sendable, Hashable {
    public var table: String
    public var key: String
    public var columns: [String]
    public var stage: String
    /// Rows also hold the values the apply wrote.
    public var hasWrittenValues = true
    /// How the apply wrote: for an upsert or insert, the file also lists the rows it added.
    public var mode: BulkUpdate.Mode = .update

    public init(table: String, key: String, columns: [String], stage: String) {
        self.table = table
        self.key = key
        self.columns = columns
        self.stage = stage
    }

    /// The file name an apply stage writes in its run directory.
    public static func fileName(stage: String) -> String {
        RunFileNames.undo(stage: stage)
    }

    var header: Value {
        var fields: [String: Value] = [
            "table": .string(table), "key": .string(key), "columns": .array(columns.map(Value.string)),
            "stage": .string(stage), "written": .bool(hasWrittenValues), "marks_commit": true,
        ]
        if mode != .update { fields["mode"] = .string(mode.rawValue) }
        return .object(fields)
    }

    /// The key of the object of the last line, written just before COMMIT: the transaction's
    /// id. A file whose header says `"marks_commit"` and that has no such line was never
    /// committed: the apply stopped before it sent COMMIT.
    static let transactionRecord = "transaction"
    /// The key of a line's object holding a row the apply added.
    static let insertedRecord = "inserted"
    /// The key of a line's object holding what a row holds after the apply, where a trigger
    /// made it differ from what was written (``BulkUpdate/storedColumns``).
    static let storedRecord = "stored"
    /// The key of line 2's object: the table the apply changed.
    static let targetRecord = "target"

    init(header: Value, path: String) throws {
        guard let table = header["table"].stringValue, let key = header["key"].stringValue,
            case .array(let columns) = header["columns"]
        else {
            throw NDJSONError(path: path, line: 1, message: "not an undo file header (table, key, columns)")
        }
        self.init(
            table: table, key: key, columns: columns.compactMap(\.stringValue),
            stage: header["stage"].stringValue ?? "apply")
        hasWrittenValues = header["written"].boolValue ?? false
        if let name = header["mode"].stringValue {
            guard let mode = BulkUpdate.Mode(rawValue: name) else {
                throw NDJSONError(
                    path: path, line: 1, message: "unknown apply mode '\(name)' (written by a newer sluice?)")
            }
            guard mode == .update || hasWrittenValues else {
                throw NDJSONError(
                    path: path, line: 1, message: "an undo file of mode \(name) must record the values written")
            }
            self.mode = mode
        }
    }

    /// Writes an undo file; not thread-safe (the apply stage's task owns it).
    /// `@unchecked Sendable`: the apply stage uses it from its one task, one call at a time —
    /// the rows as the update hands them over, then the transaction's line from
    /// ``BulkUpdate/beforeCommit`` (which that task awaits), then `close` — never two at once.
    final class Writer: @unchecked Sendable {
        private let file: PrivateFileWriter
        private let undo: UndoFile
        private(set) var rows = 0

        init(at url: URL, describing undo: UndoFile) async throws {
            self.undo = undo
            file = try PrivateFileWriter(at: url, bufferSize: 1 << 16)
            try await file.append { out in
                JSON.encode(undo.header, into: &out)
                out.append(UInt8(ascii: "\n"))
            }
        }

        var url: URL { file.url }

        /// Appends a batch of ``BulkUpdate/undoColumns`` rows.
        func append(_ batch: Batch) async throws {
            let flagged = undo.mode != .update
            let columns = undo.columns.count
            try await file.append { out in
                for row in batch.rows {
                    if !flagged {
                        JSON.encode(.array(row), into: &out)
                    } else if row.last == .bool(true) {
                        // Added by the apply: no prior values, only the key and what was written.
                        let record = [row[0]] + row.dropLast().suffix(columns)
                        JSON.encode(.object([UndoFile.insertedRecord: .array(record)]), into: &out)
                    } else {
                        JSON.encode(.array(Array(row.dropLast())), into: &out)
                    }
                    out.append(UInt8(ascii: "\n"))
                }
            }
            rows += batch.count
            try await file.flush()
        }

        /// Appends the transaction's line (``UndoFile/transactionRecord``), the last before COMMIT.
        func appendTransaction(_ id: Value) async throws {
            try await file.append { out in
                JSON.encode(.object([UndoFile.transactionRecord: id]), into: &out)
                out.append(UInt8(ascii: "\n"))
            }
            try await file.flush()
        }

        /// Appends the table the apply found (``UndoFile/targetRecord``), before any row.
        func appendTarget(_ target: TableIdentity) async throws {
            try await file.append { out in
                JSON.encode(.object([UndoFile.targetRecord: target.json]), into: &out)
                out.append(UInt8(ascii: "\n"))
            }
        }

        /// Appends a batch of ``BulkUpdate/storedColumns`` rows, after every row of ``append(_:)``.
        /// Not counted in ``rows``: they describe rows already there.
        func appendStored(_ batch: Batch) async throws {
            try await file.append { out in
                for row in batch.rows {
                    JSON.encode(.object([UndoFile.storedRecord: .array(row)]), into: &out)
                    out.append(UInt8(ascii: "\n"))
                }
            }
            try await file.flush()
        }

        func close() async throws -> PrivateFileWriter.Summary { try await file.close() }

        /// Closes and deletes the file (the update it belonged to did not happen).
        func remove() async {
            await file.discard()
            let url = file.url
            _ = try? await BlockingIO.run { try FileManager.default.removeItem(at: url) }
        }
    }
}
