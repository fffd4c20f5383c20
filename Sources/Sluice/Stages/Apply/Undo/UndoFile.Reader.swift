import Foundation
import SluiceApply
import SluiceCore
import SluicePipeline
import SluicePostgres

extension UndoFile {
    /// Reads an undo file back as batches of rows (`key` then the columns), a bounded number
    /// at a time, for ``BulkUpdate``'s input. For an upsert's or insert's file each row ends with
    /// the inserted flag, true for the rows the apply added (which have no prior values).
    struct Reader: AsyncSequence {
        typealias Element = Batch
        let url: URL
        let undo: UndoFile
        let batchSize: Int

        /// Opens the file and reads its header.
        init(url: URL, batchSize: Int = 10_000) async throws {
            self.url = url
            self.batchSize = batchSize
            let reader = try NDJSONReader(url: url)
            guard let header = try await reader.next() else {
                throw NDJSONError(path: url.path, line: 1, message: "the undo file is empty")
            }
            undo = try UndoFile(header: header, path: url.path)
        }

        /// The update that restores the file's rows, guarded by the values the apply wrote when
        /// the file has them.
        var update: BulkUpdate {
            var update = BulkUpdate(
                table: undo.table, key: undo.key, columns: undo.columns.map { BulkUpdate.Column($0, onEmpty: .clear) }
            ).undoing
            update.guarded = undo.hasWrittenValues
            update.deletesInserted = undo.mode != .update
            return update
        }

        var columns: [String] { update.inputColumns }

        struct AsyncIterator: AsyncIteratorProtocol {
            let url: URL
            var reader: NDJSONReader?
            let columns: [String]
            let batchSize: Int
            /// The rows end with the inserted flag (``BulkUpdate/deletesInserted``).
            let flagged: Bool

            mutating func next() async throws -> Batch? {
                try Task.checkCancellation()
                if reader == nil {
                    reader = try NDJSONReader(url: url)
                    _ = try await reader?.next()  // the header, checked when the Reader was made
                }
                guard let reader else { return nil }
                var batch = Batch(columns: columns)
                while batch.count < batchSize, let line = try await reader.next() {
                    batch.rows.append(try row(line, lineNumber: reader.lineNumber))
                }
                return batch.isEmpty ? nil : batch
            }

            /// One line as a row of ``columns``.
            private func row(_ line: Value, lineNumber: Int) throws -> [Value] {
                let width = flagged ? columns.count - 1 : columns.count
                switch line {
                case .array(let row) where row.count == width:
                    return flagged ? row + [.bool(false)] : row
                case .object(let record) where flagged && record.count == 1:
                    // A row the apply added: the key, then the values it wrote.
                    let written = (width - 1) / 2
                    guard case .array(let values)? = record[UndoFile.insertedRecord], values.count == 1 + written else {
                        break
                    }
                    return [values[0]] + Array(repeating: .null, count: written) + values.dropFirst() + [.bool(true)]
                default:
                    break
                }
                throw NDJSONError(
                    path: url.path, line: lineNumber,
                    message: "not a row of \(width) values"
                        + (flagged ? " nor {\"\(UndoFile.insertedRecord)\": [key and \((width - 1) / 2) values]}" : ""))
            }
        }

        func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(
                url: url, reader: nil, columns: columns, batchSize: batchSize, flagged: update.deletesInserted)
        }
    }
}
