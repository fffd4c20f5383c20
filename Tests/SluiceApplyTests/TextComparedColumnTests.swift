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
        let (review, cells) = try await Self.review(update, of: input, on: db.connection)
        #expect(review.changedRows == 1, "\(review)")
        #expect(
            cells == [
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

    /// The review of `input`, and its changed cells (column, old, new) by column.
    static func review(
        _ update: BulkUpdate, of input: Batch, on connection: PostgresConnection
    ) async throws -> (ReviewSummary, [[String?]]) {
        var cells: [[String?]] = []
        let review = try await update.review(on: connection, input: AsyncBatches([input])) { batch in
            cells += (0..<batch.count).map { [batch.columnNames[batch.column[$0]], batch.old[$0], batch.new[$0]] }
        }
        return (review, cells.sorted { ($0[0] ?? "") < ($1[0] ?? "") })
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

/// An `interval`'s `=` compares a length: `1 day` = `24:00:00`, yet a `timestamptz` plus one
/// crosses a DST change differently from the other. A box's `=` compares areas. Either edit is a
/// change, compared by the value's text: reviewed, written, undone exactly.
@Suite struct LengthComparedColumnTests {
    static let schema = """
        CREATE DOMAIN span AS interval;
        CREATE TABLE spans (id int PRIMARY KEY, i interval, d span[], b box);
        INSERT INTO spans VALUES (1, '1 day', '{1 day}', '(1,1),(0,0)'), (2, '1 hour', '{1 hour}', '(2,2),(0,0)')
        """

    static func table(_ connection: PostgresConnection) async throws -> [[Value]] {
        try await connection.execute("SELECT id, i::text, d::text, b::text FROM spans ORDER BY id").rows
    }

    @Test func anEditToAnEqualLengthIsReviewedWrittenAndUndone() async throws {
        let db = try await Scratch.make(schema: Self.schema)
        let before = try await Self.table(db.connection)
        let update = BulkUpdate(
            table: "spans", key: "id", columns: ["i", "d", "b"].map { BulkUpdate.Column($0, onEmpty: .clear) })
        let input = Batch(
            columns: ["id", "i", "d", "b"],
            rows: [
                [1, "24 hours", .array(["24 hours"]), "(2,0.5),(0,0)"],
                [2, "01:00:00", .array(["1 hour"]), "(2,2),(0,0)"],
            ])
        let (review, cells) = try await TextComparedColumnTests.review(update, of: input, on: db.connection)
        #expect(review.changedRows == 1, "\(review)")
        #expect(
            cells == [
                ["b", "(1,1),(0,0)", "(2,0.5),(0,0)"], ["d", "{\"1 day\"}", "{24:00:00}"], ["i", "1 day", "24:00:00"],
            ], "\(cells)")
        var records: [Batch] = []
        let stats = try await update.run(on: db.connection, batches: [input]) { records.append($0) }
        #expect(stats.changed == 1)
        #expect(
            try await Self.table(db.connection) == [
                [1, "24:00:00", "{24:00:00}", "(2,0.5),(0,0)"], [2, "01:00:00", "{01:00:00}", "(2,2),(0,0)"],
            ])
        #expect(try await update.run(on: db.connection, batches: [input]) { _ in }.changed == 0)

        let undone = try await update.undoing.run(on: db.connection, batches: records) { _ in }
        #expect(undone.changed == 1 && undone.conflicts == 0)
        #expect(try await Self.table(db.connection) == before)
    }
}
