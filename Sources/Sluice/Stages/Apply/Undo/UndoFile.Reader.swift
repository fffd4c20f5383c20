import Foundation
import SluiceApply
import SluiceCore
import SluicePipeline
import SluicePostgres

extension UndoFile {
    /// Reads an undo file back as batches of rows (`key` then the columns), a bounded number
    /// at a time, for ``BulkUpdate``'s input.
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
            return update
        }

        var columns: [String] { update.inputColumns }

        struct AsyncIterator: AsyncIteratorProtocol {
            let url: URL
            var reader: NDJSONReader?
            let columns: [String]
            let batchSize: Int

            mutating func next() async throws -> Batch? {
                try Task.checkCancellation()
                if reader == nil {
                    reader = try NDJSONReader(url: url)
                    _ = try await reader?.next()  // the header, checked when the Reader was made
                }
                guard let reader else { return nil }
                var batch = Batch(columns: columns)
                while batch.count < batchSize, let line = try await reader.next() {
                    guard case .array(let row) = line, row.count == columns.count else {
                        throw NDJSONError(
                            path: url.path, line: reader.lineNumber, message: "not a row of \(columns.count) values")
                    }
                    batch.rows.append(row)
                }
                return batch.isEmpty ? nil : batch
            }
        }

        func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(url: url, reader: nil, columns: columns, batchSize: batchSize)
        }
    }
}
