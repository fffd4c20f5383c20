import Foundation
import SluiceCore
import SluicePipeline

/// The prior values an apply replaced: what ``Undo`` writes back to restore the table.
///
/// NDJSON, mode 0600. Line 1 describes the update,
/// `{"columns":["spotify_popularity","isrc"],"key":"id","stage":"apply","table":"tracks","written":true}`;
/// every later line is one row as a JSON array: the key, the prior value of each column, then
/// the value the apply wrote to each column (``BulkUpdate/undoColumns``), which undo checks a
/// row still holds before restoring it. Files without `"written"` (older ones) hold the key and
/// the prior values only, and their undo restores every row.
/// Rows are flushed to the kernel as the database hands them over, before the UPDATE commits,
/// so the file survives the process dying between the update and the end of the stage.
public struct UndoFile: Sendable, Hashable {
    public var table: String
    public var key: String
    public var columns: [String]
    public var stage: String
    /// Rows also hold the values the apply wrote.
    public var hasWrittenValues = true

    public init(table: String, key: String, columns: [String], stage: String) {
        self.table = table
        self.key = key
        self.columns = columns
        self.stage = stage
    }

    /// The file name an apply stage writes in its run directory.
    public static func fileName(stage: String) -> String {
        let safe = String(stage.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        return "\(safe).undo.ndjson"
    }

    var header: Value {
        .object([
            "table": .string(table), "key": .string(key), "columns": .array(columns.map(Value.string)),
            "stage": .string(stage), "written": .bool(hasWrittenValues),
        ])
    }

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
    }

    /// Writes an undo file; not thread-safe (the apply stage's task owns it).
    final class Writer {
        private let file: PrivateFileWriter
        private(set) var rows = 0

        init(at url: URL, describing undo: UndoFile) async throws {
            file = try PrivateFileWriter(at: url, bufferSize: 1 << 16)
            try await file.append { out in
                JSON.encode(undo.header, into: &out)
                out.append(UInt8(ascii: "\n"))
            }
        }

        var url: URL { file.url }

        func append(_ batch: Batch) async throws {
            try await file.append { out in
                for row in batch.rows {
                    JSON.encode(.array(row), into: &out)
                    out.append(UInt8(ascii: "\n"))
                }
            }
            rows += batch.count
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
