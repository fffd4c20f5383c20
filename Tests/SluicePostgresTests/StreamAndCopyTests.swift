import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

@Suite struct StreamAndCopyTests {
    @Test func streamsInBoundedBatchesWithoutMaterialising() async throws {
        let db = try await Scratch.make()
        var sizes: [Int] = []
        var expected: Int64 = 1
        var columns: [String] = []
        let total = try await db.connection.stream(
            "SELECT g AS n, 'row ' || g AS label FROM generate_series(1, $1::int) AS g", [.int(100_000)],
            batchSize: 1000
        ) { batch in
            sizes.append(batch.count)
            columns = batch.columns
            for row in batch.rows {
                #expect(row[0] == .int(expected))
                expected += 1
            }
        }
        #expect(total == 100_000)
        #expect(sizes.count == 100)
        #expect(sizes.allSatisfy { $0 == 1000 })
        #expect(columns == ["n", "label"])
    }

    @Test func streamDeliversAPartialLastBatchAndNothingForNoRows() async throws {
        let db = try await Scratch.make()
        var sizes: [Int] = []
        let total = try await db.connection.stream("SELECT generate_series(1, 25)", batchSize: 10) {
            sizes.append($0.count)
        }
        #expect(total == 25)
        #expect(sizes == [10, 10, 5])
        var calls = 0
        #expect(try await db.connection.stream("SELECT 1 WHERE false", batchSize: 10) { _ in calls += 1 } == 0)
        #expect(calls == 0)
    }

    /// Either kind of stream: rows in results (`stream`) or in COPY lines (`streamText`).
    static func stream(
        _ db: Scratch, text: Bool, _ sql: String, batchSize: Int, _ body: (Batch) async throws -> Void
    ) async throws -> Int {
        text
            ? try await db.connection.streamText(sql, batchSize: batchSize, body)
            : try await db.connection.stream(sql, batchSize: batchSize, body)
    }

    @Test(arguments: [false, true]) func streamStopsWhenTheBodyThrowsAndLeavesTheConnectionUsable(
        text: Bool
    )
        async throws
    {
        let db = try await Scratch.make()
        struct Enough: Error {}
        var batches = 0
        await #expect(throws: Enough.self) {
            _ = try await Self.stream(db, text: text, "SELECT generate_series(1, 10000000)", batchSize: 100) { _ in
                batches += 1
                if batches == 3 { throw Enough() }
            }
        }
        #expect(batches == 3)
        #expect(try await db.connection.execute("SELECT 'still here'").scalar == .string("still here"))
    }

    @Test func streamReportsAnErrorRaisedMidway() async throws {
        let db = try await Scratch.make()
        let error = try await #require(throws: PostgresError.self) {
            _ = try await db.connection.stream("SELECT 10 / (5 - g) FROM generate_series(1, 10) AS g", batchSize: 2) {
                _ in
            }
        }
        #expect(error.sqlState == "22012")
        #expect(try await db.connection.execute("SELECT 1").scalar == .int(1))
    }

    static let awkward: [Value] = [
        "tab\there", "new\nline", "back\\slash", "carriage\rreturn", "\\N", "\\.", "", .null, "unicode é 漢字 🎉",
        "mixed\t\\\n\r end", "trailing backslash \\", "\u{08}\u{0B}\u{0C} control",
    ]

    /// A text stream hands back what the server prints: awkward text unescaped exactly, NULL as
    /// NULL, every other value as its text; in batches, the last one partial.
    @Test func aTextStreamReadsWhatTheServerPrints() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE t (id int, s text, b bool, d float8)")
        _ = try await db.connection.copyIn("COPY t (id, s, b, d) FROM STDIN") { writer in
            for (index, text) in Self.awkward.enumerated() {
                try await writer.write(row: [
                    .int(Int64(index)), text, .bool(index % 2 == 0), .double(Double(index) / 4),
                ])
            }
        }
        var rows: [[Value]] = []
        var sizes: [Int] = []
        let total = try await db.connection.streamText(
            "SELECT id, s, b, d, NULL::text FROM t ORDER BY id", columns: ["id", "s", "b", "d", "none"], batchSize: 5
        ) { batch in
            #expect(batch.columns == ["id", "s", "b", "d", "none"])
            sizes.append(batch.count)
            rows += batch.rows
        }
        #expect(total == Self.awkward.count)
        #expect(sizes == [5, 5, 2])
        for (index, row) in rows.enumerated() {
            let expected: [Value] = [.string(String(index)), Self.awkward[index], .string(index % 2 == 0 ? "t" : "f")]
            #expect(Array(row.prefix(3)) == expected, "row \(index)")
            #expect(row[3].stringValue.flatMap(Double.init) == Double(index) / 4)
            #expect(row[4] == .null)
        }
    }

    @Test func aTextStreamReportsAnErrorAndReadsAnEmptyResult() async throws {
        let db = try await Scratch.make()
        let error = try await #require(throws: PostgresError.self) {
            _ = try await Self.stream(
                db, text: true, "SELECT 10 / (5 - g) FROM generate_series(1, 10) AS g", batchSize: 2
            ) { _ in }
        }
        #expect(error.sqlState == "22012")
        #expect(try await db.connection.streamText("SELECT 1 WHERE false", batchSize: 10) { _ in } == 0)
    }

    @Test func copyEscapingRoundTrips() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE t (id int, s text, j jsonb, d float8, b bool)")
        let rows: [[Value]] = Self.awkward.enumerated().map { index, text in
            [
                .int(Int64(index)), text, .object(["s": text, "n": .int(Int64(index))]), .double(Double(index) / 3),
                .bool(index % 2 == 0),
            ]
        }
        let copied = try await db.connection.copyIn("COPY t (id, s, j, d, b) FROM STDIN") { writer in
            for row in rows { try await writer.write(row: row) }
        }
        #expect(copied == rows.count)
        let back = try await db.connection.execute("SELECT id, s, j, d, b FROM t ORDER BY id").rows
        #expect(back.count == rows.count)
        for (got, sent) in zip(back, rows) {
            #expect(got[0] == sent[0])
            #expect(got[1] == sent[1])
            #expect(got[2] == (sent[1].isNull ? .object(["s": .null, "n": sent[0]]) : sent[2]))
            #expect(got[3] == sent[3])
            #expect(got[4] == sent[4])
        }
    }

    @Test func copyFlushesManyBuffers() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE t (id bigint, s text)")
        let count = 200_000
        let copied = try await db.connection.copyIn("COPY t FROM STDIN") { writer in
            var batch = Batch(columns: ["id", "s"])
            for i in 0..<count {
                batch.rows.append([.int(Int64(i)), .string("value number \(i)")])
                if batch.count == 5000 {
                    try await writer.write(batch)
                    batch.rows.removeAll(keepingCapacity: true)
                }
            }
        }
        #expect(copied == count)
        let check = try await db.connection.execute("SELECT count(*), sum(id), count(DISTINCT s) FROM t").rows[0]
        #expect(check == [.int(Int64(count)), .string("\(Int64(count) * Int64(count - 1) / 2)"), .int(Int64(count))])
    }

    @Test func copyRejectsARowOfTheWrongWidthAndDiscardsTheCopy() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE t (a int, b int)")
        let error = try await #require(throws: PostgresError.self) {
            _ = try await db.connection.copyIn("COPY t FROM STDIN") { writer in
                try await writer.write(row: [1, 2])
                try await writer.write(row: [1])
            }
        }
        #expect(error.kind == .client)
        #expect(error.message.contains("row 2 has 1 values"))
        #expect(try await db.connection.execute("SELECT count(*) FROM t").scalar == .int(0))
    }

    @Test func copyReportsTheServersComplaintWithTheLine() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE t (a int)")
        let error = try await #require(throws: PostgresError.self) {
            _ = try await db.connection.copyIn("COPY t FROM STDIN") { writer in
                try await writer.write(row: [1])
                try await writer.write(row: ["two"])
            }
        }
        #expect(error.sqlState == "22P02")
        #expect(error.context?.contains("line 2") == true)
        #expect(try await db.connection.execute("SELECT count(*) FROM t").scalar == .int(0))
    }
}
