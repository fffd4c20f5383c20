import Foundation
import SluiceCore
import SluicePipeline

/// A private temporary NDJSON file of rows: the query stage reads its whole result into one
/// so that the database is released before slow downstream stages start pulling rows.
///
/// Line 1 is `{"columns":[...]}`; every later line is one row as a JSON array. The file is
/// mode 0600 (rows may hold personal data) and removed by ``remove()``.
final class RowSpool {
    let url: URL
    private var writer: PrivateFileWriter?
    private(set) var columns: [String]?
    private(set) var rows = 0

    init(url: URL) throws {
        self.url = url
        writer = try PrivateFileWriter(at: url)
    }

    /// Appends a batch; every batch of one query has the same columns.
    func append(_ batch: Batch) async throws {
        guard let writer else { return }
        if columns == nil {
            columns = batch.columns
            try await writer.append { out in
                JSON.encode(.object(["columns": .array(batch.columns.map(Value.string))]), into: &out)
                out.append(UInt8(ascii: "\n"))
            }
        }
        for row in batch.rows {
            try await writer.append { out in
                JSON.encode(.array(row), into: &out)
                out.append(UInt8(ascii: "\n"))
            }
        }
        rows += batch.count
    }

    /// Finishes writing; the spool can then be read.
    func close() async throws {
        _ = try await writer?.close()
        writer = nil
    }

    /// Reads the rows back in batches of `batchSize`, calling `body` for each.
    func read(batchSize: Int, _ body: (Batch) async throws -> Void) async throws {
        guard let columns else { return }
        let reader = try NDJSONLineReader(url: url)
        _ = try await reader.next()  // the header
        var batch = Batch(columns: columns)
        batch.rows.reserveCapacity(batchSize)
        while let line = try await reader.next() {
            guard case .array(let row) = line, row.count == columns.count else {
                throw NDJSONError(
                    path: url.path, line: reader.lineNumber, message: "not a row of \(columns.count) values")
            }
            batch.rows.append(row)
            if batch.count == batchSize {
                try await body(batch)
                batch.rows.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty { try await body(batch) }
    }

    /// Deletes the file (and a half-written one).
    func remove() async {
        await writer?.discard()
        writer = nil
        let url = self.url
        _ = try? await BlockingIO.run { try FileManager.default.removeItem(at: url) }
    }
}
