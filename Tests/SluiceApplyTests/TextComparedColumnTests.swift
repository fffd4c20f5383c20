import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

/// Columns whose `=` calls two different texts equal — a `citext`, an array of them, a text
/// under a case-insensitive collation — compare by their text: a case-only edit is a change
/// the review shows, the apply writes and the undo puts back, as in any other text column.
@Suite struct TextComparedColumnTests {
    static let schema = """
        CREATE EXTENSION IF NOT EXISTS citext;
        CREATE COLLATION IF NOT EXISTS sluice_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
        CREATE TABLE names (id int PRIMARY KEY, c citext, a citext[], t text COLLATE sluice_ci, n numeric);
        INSERT INTO names VALUES (1, 'abc', '{abc}', 'abc', 1.0), (2, 'same', '{same}', 'same', 2)
        """

    static func table(_ connection: PostgresConnection) async throws -> [[Value]] {
        try await connection.execute("SELECT id, c::text, a::text, t::text, n::text FROM names ORDER BY id").rows
    }

    @Test(arguments: [false, true]) func aCaseOnlyEditIsReviewedWrittenAndUndone(concurrent: Bool) async throws {
        let db = try await Scratch.make(schema: Self.schema)
        let before = try await Self.table(db.connection)
        var update = BulkUpdate(
            table: "names", key: "id", columns: ["c", "a", "t", "n"].map { BulkUpdate.Column($0, onEmpty: .clear) })
        update.concurrentPriorReadRows = concurrent ? 1 : nil
        // Row 1: each text respelled, the numeric `1.0` given as `1.00` (the same number: kept);
        // row 2: as it is.
        let input = Batch(
            columns: ["id", "c", "a", "t", "n"],
            rows: [[1, "ABC", .array(["ABC"]), "ABC", "1.00"], [2, "same", .array(["same"]), "same", "2"]])
        var cells: [[String?]] = []
        let review = try await update.review(on: db.connection, input: AsyncBatches([input])) { batch in
            cells += (0..<batch.count).map { [batch.columnNames[batch.column[$0]], batch.old[$0], batch.new[$0]] }
        }
        #expect(review.changedRows == 1, "\(review)")
        #expect(
            cells.sorted { ($0[0] ?? "") < ($1[0] ?? "") } == [
                ["a", "{abc}", "{ABC}"], ["c", "abc", "ABC"], ["t", "abc", "ABC"],
            ])
        var records: [Batch] = []
        let stats = try await update.run(on: db.connection, batches: [input]) { records.append($0) }
        #expect(stats.changed == 1)
        let written = try await Self.table(db.connection)
        #expect(written == [[1, "ABC", "{ABC}", "ABC", "1.0"], [2, "same", "{same}", "same", "2"]])
        // Again: nothing to write.
        #expect(try await update.run(on: db.connection, batches: [input]) { _ in }.changed == 0)

        let undone = try await update.undoing.run(on: db.connection, batches: records) { _ in }
        #expect(undone.changed == 1 && undone.conflicts == 0)
        #expect(try await Self.table(db.connection) == before)
    }

    /// An undo leaves a cell respelled since the apply (`ABC` made `Abc`) as it is: it no longer
    /// holds what the apply wrote, though citext's `=` says it does.
    @Test func anUndoLeavesACellRespelledSince() async throws {
        let db = try await Scratch.make(schema: Self.schema)
        let update = BulkUpdate(table: "names", key: "id", columns: [.init("c", onEmpty: .clear)])
        var records: [Batch] = []
        _ = try await update.run(on: db.connection, batches: [Batch(columns: ["id", "c"], rows: [[1, "ABC"]])]) {
            records.append($0)
        }
        _ = try await db.connection.execute("UPDATE names SET c = 'Abc' WHERE id = 1")
        let undone = try await update.undoing.run(on: db.connection, batches: records) { _ in }
        #expect(undone.conflicts == 1)
        #expect(try await db.connection.execute("SELECT c::text FROM names WHERE id = 1").scalar == "Abc")
    }
}
