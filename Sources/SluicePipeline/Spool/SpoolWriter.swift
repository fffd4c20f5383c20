import Foundation
import SluiceCore

/// Writes a stage's output to its spool: NDJSON with deterministic bytes.
///
/// Format (documented in docs/manifest.md): every batch starts with a header line, a JSON
/// object `{"columns":[...]}`; each of its rows follows as one JSON array on its own line.
/// Keeping batch boundaries lets a replay feed a stage exactly the batches it saw.
/// Memory is bounded by the writer's buffer, not by the spool's size.
final class SpoolWriter {
    private let file: PrivateFileWriter
    private(set) var rows = 0

    init(at url: URL) throws {
        file = try PrivateFileWriter(at: url)
    }

    var url: URL { file.url }

    /// Hands everything appended so far to the file, so that a reader sees it.
    func flush() async throws { try await file.flush() }

    /// Encodes the batch into the buffer; the buffer goes to the file when full.
    func append(_ batch: Batch) async throws {
        try await file.append { out in
            Self.encodeHeader(batch.columns, into: &out)
            for row in batch.rows { Self.encodeRow(row, into: &out) }
        }
        rows += batch.rows.count
    }

    func close() async throws -> (summary: PrivateFileWriter.Summary, rows: Int) {
        (try await file.close(), rows)
    }

    static func encodeHeader(_ columns: [String], into out: inout [UInt8]) {
        out.append(contentsOf: #"{"columns":["#.utf8)
        for (i, column) in columns.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSON.encodeString(column, into: &out)
        }
        out.append(contentsOf: "]}\n".utf8)
    }

    static func encodeRow(_ row: [Value], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (i, value) in row.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSON.encode(value, into: &out)
        }
        out.append(contentsOf: "]\n".utf8)
    }
}
