import Foundation
import SluiceApply
import SluiceCore
import SluicePipeline
import SluicePostgres

extension UndoFile {
    /// Reads an undo file back as batches of rows (`key` then the columns), a bounded number
    /// at a time, for ``BulkUpdate``'s input. For an upsert's or insert's file each row ends with
    /// the inserted flag, true for the rows the apply added (which have no prior values). A row
    /// a trigger changed (a `{"stored":...}` line) expects what it stored, not what was written.
    struct Reader: AsyncSequence {
        typealias Element = Batch
        let url: URL
        let undo: UndoFile
        let batchSize: Int
        /// By key, what the rows a trigger changed hold after the apply (``UndoFile/storedRecord``).
        let stored: [Value: [Value]]
        /// The table the apply changed (line 2), when the file names it.
        let target: TableIdentity?

        /// Opens the file and reads its header and the table it names, then the values triggers
        /// stored.
        init(url: URL, batchSize: Int = 10_000) async throws {
            self.url = url
            self.batchSize = batchSize
            let reader = try NDJSONReader(url: url)
            guard let header = try await reader.next() else {
                throw NDJSONError(path: url.path, line: 1, message: "the undo file is empty")
            }
            undo = try UndoFile(header: header, path: url.path)
            target = try await reader.next().flatMap { TableIdentity(json: $0[UndoFile.targetRecord]) }
            stored = undo.hasWrittenValues ? try await Self.storedValues(url: url, columns: undo.columns.count) : [:]
        }

        /// The file's `{"stored":[KEY, VALUE...]}` lines, by key. They follow the rows they
        /// amend, so they are read first, in a pass that decodes no other line (the rows'
        /// lines start with `[` or `{"inserted"`): one more read of a file the SHA-256 check
        /// has just read whole too.
        private static func storedValues(url: URL, columns: Int) async throws -> [Value: [Value]] {
            let file = try FileChunks(path: url.path)
            let prefix = Array("{\"\(UndoFile.storedRecord)\"".utf8)
            var stored: [Value: [Value]] = [:]
            while let range = try await file.nextLine() {
                guard file.bytes[range].starts(with: prefix) else { continue }
                let line: Value
                do {
                    line = try file.bytes.withUnsafeBufferPointer { buffer in
                        try JSON.decode(UnsafeBufferPointer(rebasing: buffer[range]))
                    }
                } catch {
                    throw NDJSONError(path: url.path, line: file.lineNumber, message: String(describing: error))
                }
                guard case .array(let values) = line[UndoFile.storedRecord], values.count == 1 + columns else {
                    throw NDJSONError(
                        path: url.path, line: file.lineNumber,
                        message: "not {\"\(UndoFile.storedRecord)\": [key and \(columns) values]}")
                }
                stored[values[0]] = Array(values.dropFirst())
            }
            return stored
        }

        /// The update that restores the file's rows, guarded by the values the apply wrote when
        /// the file has them.
        var update: BulkUpdate {
            var update = BulkUpdate(
                table: undo.table, key: undo.key, columns: undo.columns.map { BulkUpdate.Column($0, onEmpty: .clear) }
            ).undoing
            update.guarded = undo.hasWrittenValues
            update.deletesInserted = undo.mode != .update
            update.expectedTarget = target
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
            /// See ``Reader/stored``.
            let stored: [Value: [Value]]
            /// The file records the values written, so it may have stored values, read already.
            let hasStored: Bool

            mutating func next() async throws -> Batch? {
                try Task.checkCancellation()
                if reader == nil {
                    reader = try NDJSONReader(url: url)
                    _ = try await reader?.next()  // the header, checked when the Reader was made
                }
                guard let reader else { return nil }
                var batch = Batch(columns: columns)
                while batch.count < batchSize, let line = try await reader.next() {
                    guard var row = try row(line, lineNumber: reader.lineNumber) else { continue }
                    if let values = stored[row[0]] {
                        // The values written, where the apply's expected values are.
                        let start = 1 + values.count
                        row.replaceSubrange(start..<start + values.count, with: values)
                    }
                    batch.rows.append(row)
                }
                return batch.isEmpty ? nil : batch
            }

            /// One line as a row of ``columns``; `nil` for a line of stored values (read first), the
            /// transaction's or the table's.
            private func row(_ line: Value, lineNumber: Int) throws -> [Value]? {
                let width = flagged ? columns.count - 1 : columns.count
                switch line {
                case .array(let row) where row.count == width:
                    return flagged ? row + [.bool(false)] : row
                case .object(let record)
                where record.count == 1
                    && (record[UndoFile.transactionRecord] != nil || record[UndoFile.targetRecord] != nil):
                    return nil
                case .object(let record) where hasStored && record.count == 1 && record[UndoFile.storedRecord] != nil:
                    return nil
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
                url: url, reader: nil, columns: columns, batchSize: batchSize, flagged: update.deletesInserted,
                stored: stored, hasStored: undo.hasWrittenValues)
        }
    }
}
