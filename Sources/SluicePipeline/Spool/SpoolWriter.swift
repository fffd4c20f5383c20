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
    /// The last batch appended, being encoded on another thread of the pool while the stage goes
    /// on; its bytes go to the file at the next ``append(_:)``, ``flush()`` or ``close()``.
    private var encoding: Task<[UInt8], Never>?
    /// The size of the last batch encoded: room enough for the next, as a rule.
    private var lastEncodedSize = 0

    init(at url: URL) throws {
        file = try PrivateFileWriter(at: url)
    }

    var url: URL { file.url }

    /// Hands everything appended so far to the file, so that a reader sees it.
    func flush() async throws {
        try await writeEncoded()
        try await file.flush()
    }

    /// Starts encoding the batch, then writes the one before it into the file's buffer (the
    /// buffer goes to the file when full). The stage calling this reads and checks its next rows
    /// while the batch is encoded, instead of after: at most two batches wait here.
    func append(_ batch: Batch) async throws {
        let previous = encoding
        encoding = Self.encoding(batch, capacity: lastEncodedSize)
        rows += batch.rows.count
        if let previous { try await write(previous) }
    }

    func close() async throws -> (summary: PrivateFileWriter.Summary, rows: Int) {
        try await writeEncoded()
        return (try await file.close(), rows)
    }

    private static func encoding(_ batch: Batch, capacity: Int) -> Task<[UInt8], Never> {
        Task {
            var out: [UInt8] = []
            out.reserveCapacity(capacity)
            encodeHeader(batch.columns, into: &out)
            for row in batch.rows { encodeRow(row, into: &out) }
            return out
        }
    }

    private func writeEncoded() async throws {
        guard let pending = encoding else { return }
        encoding = nil
        try await write(pending)
    }

    private func write(_ encoded: Task<[UInt8], Never>) async throws {
        let bytes = await encoded.value
        lastEncodedSize = bytes.count
        try await file.write(bytes)
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
