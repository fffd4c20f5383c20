import Foundation
import SluiceCore
import SluicePlan
import Testing

@testable import Sluice
@testable import SluicePipeline

/// The `read-csv` source: rows from a file, checked whole before any is sent.
@Suite struct ReadCSVStageTests {
    static func stage(_ path: URL, columns: String = "", batchSize: Int = 2) throws -> any Stage {
        let plan = try TestPlans.load(
            """
            version: 1
            name: csv
            stages:
              - { name: read, kind: read-csv, path: "\(path.path)", batch_size: \(batchSize)\(columns) }
              - { kind: chunk, size: 10 }
            """)
        return try TestPlans.stage("read", of: plan)
    }

    static func file(_ text: String) async throws -> URL {
        let url = try await StageHarness.makeRunDirectory().appendingPathComponent("in.csv")
        try await BlockingIO.runOnOwnThread { try Data(text.utf8).write(to: url) }
        return url
    }

    @Test func sendsRowsInBatchesWithEmptyCellsAsNullAndRecordsTheFile() async throws {
        let url = try await Self.file(
            "book_id,isbn,note\r\nb1,0451526538,\"a, quoted\"\r\nb2,,\r\nb3,9780140328721,x\r\n")
        let stage = try Self.stage(url, columns: ", columns: [isbn, book_id]")
        let harness = try await StageHarness(stage: stage)
        let out = try await harness.run(stage, input: nil)
        #expect(out.map(\.count) == [2, 1])
        #expect(out.first?.columns == ["isbn", "book_id"])
        #expect(rows(out).map { $0["isbn"] } == ["0451526538", .null, "9780140328721"])
        #expect(harness.counters["rows"] == 3)
        let input = try #require(harness.context.inputs.first)
        #expect(input.kind == "csv")
        #expect(input.sha256 == SHA256.hex(try await BlockingIO.runOnOwnThread { Array(try Data(contentsOf: url)) }))
    }

    /// A one-column file's empty value, written `""` (as write-csv writes it), is a row; a blank
    /// line is skipped, but said, with its line.
    @Test func aOneColumnFilesEmptyValueIsARowAndABlankLineIsSaid() async throws {
        let url = try await Self.file("name\r\na\r\n\"\"\r\nc\r\n\r\nd\r\n")
        let stage = try Self.stage(url)
        let harness = try await StageHarness(stage: stage)
        let out = try await harness.run(stage, input: nil)
        #expect(rows(out).map { $0["name"] } == ["a", .null, "c", "d"])
        #expect(
            harness.notices.contains { $0.contains("in.csv: 1 blank line skipped (line 5)") }, "\(harness.notices)")
    }

    /// Every problem, located, and not one row sent: the stages after it never see half a file.
    @Test func aBadFileSendsNothingAndNamesEveryProblem() async throws {
        let url = try await Self.file("book_id,isbn,book_id\nb1,1\nb2,2,3\nb3,\"open\n")
        let stage = try Self.stage(url, columns: ", columns: [isbn, title]")
        let harness = try await StageHarness(stage: stage)
        let error = await #expect(throws: StageError.self) { try await harness.run(stage, input: nil) }
        let text = "\(error!)"
        #expect(text.contains("\(url.path):1:14: error: column 'book_id' repeats column 1"), "\(text)")
        #expect(text.contains("the header has no column 'title'"), "\(text)")
        #expect(harness.output.collected.isEmpty)
    }

    @Test func aShortRowIsLocatedAndNothingIsSent() async throws {
        let url = try await Self.file("book_id,isbn\nb1,1\nb2\nb3,3\n")
        let stage = try Self.stage(url, batchSize: 1)
        let harness = try await StageHarness(stage: stage)
        let error = await #expect(throws: StageError.self) { try await harness.run(stage, input: nil) }
        #expect("\(error!)".contains("\(url.path):3:1: error: this row has 1 field, the header 2"), "\(error!)")
        #expect(harness.output.collected.isEmpty)
    }

    @Test func aMissingFileIsAClearError() async throws {
        let stage = try Self.stage(URL(fileURLWithPath: "/nonexistent/books.csv"))
        let harness = try await StageHarness(stage: stage)
        let error = await #expect(throws: StageError.self) { try await harness.run(stage, input: nil) }
        #expect("\(error!)".contains("cannot read /nonexistent/books.csv"))
    }
}
