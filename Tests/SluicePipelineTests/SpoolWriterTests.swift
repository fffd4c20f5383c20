import Foundation
import SluiceCore
import Testing

@testable import SluicePipeline

/// The spool writer encodes each batch on another thread while the stage goes on, and writes it
/// at the next call: what a reader finds must still be every batch, in order, and `flush` must
/// make every batch appended so far readable (a held stage's batches are read back after it).
@Suite struct SpoolWriterTests {
    static func batch(_ number: Int) -> Batch {
        // Batches of different sizes and columns, so a batch written out of turn shows.
        let columns = number.isMultiple(of: 2) ? ["n", "text"] : ["n", "text", "extra"]
        let rows = (0..<(1 + number % 7 * 40)).map { row -> [Value] in
            var values: [Value] = [.int(Int64(number * 1000 + row)), .string("batch \(number) row \(row)")]
            if columns.count == 3 { values.append(row.isMultiple(of: 3) ? .null : .double(Double(row) / 4)) }
            return values
        }
        return Batch(columns: columns, rows: rows)
    }

    static func read(_ url: URL) async throws -> [Batch] {
        let reader = try SpoolReader(url: url)
        var batches: [Batch] = []
        while let batch = try await reader.next() { batches.append(batch) }
        return batches
    }

    static func spoolURL() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sluice-spool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("stage.ndjson")
    }

    @Test func everyBatchIsWrittenInOrderByClose() async throws {
        let url = try Self.spoolURL()
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let writer = try SpoolWriter(at: url)
        let batches = (0..<300).map(Self.batch)
        for batch in batches { try await writer.append(batch) }
        let (summary, rows) = try await writer.close()
        #expect(rows == batches.reduce(0) { $0 + $1.rows.count })
        let read = try await Self.read(url)
        #expect(read == batches)
        let bytes = try await BlockingIO.runOnOwnThread { Array(try Data(contentsOf: url)) }
        #expect(summary.sha256 == SHA256.hex(bytes))
    }

    @Test func flushMakesEveryBatchSoFarReadable() async throws {
        let url = try Self.spoolURL()
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let writer = try SpoolWriter(at: url)
        var appended: [Batch] = []
        for number in 0..<5 {
            let batch = Self.batch(number)
            try await writer.append(batch)
            appended.append(batch)
            try await writer.flush()
            // The last batch too: none may wait in the writer once flush returns.
            #expect(try await Self.read(url) == appended)
        }
        _ = try await writer.close()
    }
}
