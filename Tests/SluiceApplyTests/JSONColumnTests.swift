import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

/// `json` and `jsonb` columns take each value as JSON: a query's JSON scalar (read as its JSON
/// text) goes back as that scalar, a boolean as `true` rather than `t`, a list or an object as
/// its JSON, and the prior values recorded for undo put the table back exactly.
@Suite struct JSONColumnTests {
    static let schema = """
        CREATE TABLE docs (id int PRIMARY KEY, j jsonb, b jsonb);
        INSERT INTO docs SELECT n, '"old"', '"old"' FROM generate_series(1, 5) AS n
        """

    static func table(_ connection: PostgresConnection) async throws -> [[Value]] {
        try await connection.execute(
            "SELECT id, j::text, jsonb_typeof(j), b::text, jsonb_typeof(b) FROM docs ORDER BY id"
        ).rows
    }

    @Test(arguments: [false, true]) func valuesGoInAsJSONAndTheirPriorValuesComeBack(concurrent: Bool) async throws {
        let db = try await Scratch.make(schema: Self.schema)
        let before = try await Self.table(db.connection)
        // What a query reads from jsonb columns holding "123", null, {"x": "y"}, 2.5 and "str".
        let read = try await db.connection.execute(
            """
            SELECT n AS id, (ARRAY['"123"', 'null', '{"x": "y"}', '2.5', '"str"']::jsonb[])[n] AS j
            FROM generate_series(1, 5) AS n ORDER BY n
            """)
        #expect(read.rows.map { $0[1] } == [#""123""#, "null", .object(["x": "y"]), "2.5", #""str""#])
        let others: [Value] = [true, 5, .array([1, "a"]), .null, false]
        let input = Batch(
            columns: ["id", "j", "b"], rows: zip(read.rows, others).map { [$0[0], $0[1], $1] })
        var update = BulkUpdate(
            table: "docs", key: "id", columns: [.init("j", onEmpty: .clear), .init("b", onEmpty: .clear)])
        update.concurrentPriorReadRows = concurrent ? 1 : nil
        var prior: [Batch] = []
        let stats = try await update.run(on: db.connection, batches: [input]) { prior.append($0) }
        #expect(stats.changed == 5)
        #expect(
            try await Self.table(db.connection) == [
                [1, #""123""#, "string", "true", "boolean"], [2, "null", "null", "5", "number"],
                [3, #"{"x": "y"}"#, "object", #"[1, "a"]"#, "array"], [4, "2.5", "number", nil, nil],
                [5, #""str""#, "string", "false", "boolean"],
            ])

        // The prior values as recorded, written back exactly as an undo writes them.
        let rows = prior.flatMap(\.rows).map { Array($0.prefix(3)) }
        #expect(rows.allSatisfy { $0[1] == #""old""# && $0[2] == #""old""# }, "\(rows)")
        var undo = BulkUpdate(
            table: "docs", key: "id", columns: [.init("j", onEmpty: .clear), .init("b", onEmpty: .clear)])
        undo.exactValues = true
        _ = try await undo.run(on: db.connection, batches: [Batch(columns: ["id", "j", "b"], rows: rows)]) { _ in }
        #expect(try await Self.table(db.connection) == before)
    }

    /// Numbers a double cannot hold (an API's 20-digit id, money to 18 decimals) go into numeric
    /// and jsonb columns as they came, and the undo's prior and written values match them
    /// exactly: it restores the table, naming no cell as changed since.
    @Test func numbersADoubleCannotHoldGoInExactlyAndUndo() async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE docs (id int PRIMARY KEY, n numeric, j jsonb);
                INSERT INTO docs VALUES (1, 1, '{}')
                """)
        let before = try await db.connection.execute("SELECT n::text, j::text FROM docs").rows
        let answer = try JSON.decode(
            #"{"big": 12345678901234567890, "doc": {"id": 123456789012345678901, "price": 19.999999999999999999}}"#)
        let input = Batch(columns: ["id", "n", "j"], rows: [[1, answer["big"], answer["doc"]]])
        let update = BulkUpdate(
            table: "docs", key: "id", columns: [.init("n", onEmpty: .clear), .init("j", onEmpty: .clear)])
        var records: [Batch] = []
        _ = try await update.run(on: db.connection, batches: [input]) { records.append($0) }
        #expect(
            try await db.connection.execute("SELECT n::text, j::text FROM docs").rows == [
                ["12345678901234567890", #"{"id": 123456789012345678901, "price": 19.999999999999999999}"#]
            ])
        let undone = try await update.undoing.run(on: db.connection, batches: records) { _ in }
        #expect(undone.conflicts == 0 && undone.changed == 1)
        #expect(try await db.connection.execute("SELECT n::text, j::text FROM docs").rows == before)
    }

    /// A jsonb value's numbers keep their spelling through the undo file: `10.50` was read as the
    /// double 10.5, recorded and put back as `10.5` (equal as jsonb, but not the text that was
    /// there), and a query read it so too.
    @Test func aJSONBValuesNumbersKeepTheirSpellingThroughTheUndoFile() async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE docs (id int PRIMARY KEY, j jsonb);
                INSERT INTO docs VALUES (1, '{"price": 10.50, "n": [1.0, 2.00, 0.10]}')
                """)
        let before = try await db.connection.execute("SELECT j::text FROM docs").rows
        #expect(before == [[#"{"n": [1.0, 2.00, 0.10], "price": 10.50}"#]])
        let read = try await db.connection.execute("SELECT j FROM docs").scalar
        #expect(read["price"] == .decimal("10.50"), "\(read)")
        let update = BulkUpdate(table: "docs", key: "id", columns: [.init("j", onEmpty: .clear)])
        var records: [Batch] = []
        _ = try await update.run(on: db.connection, batches: [Batch(columns: ["id", "j"], rows: [[1, .object([:])]])]) {
            records.append($0)
        }
        // Each record as a line of the undo file, and read back.
        let lines = try records.map { batch in
            Batch(
                columns: batch.columns,
                rows: try batch.rows.map { row in
                    guard case .array(let cells) = try JSON.decode(JSON.encode(.array(row))) else { return [] }
                    return cells
                })
        }
        let undone = try await update.undoing.run(on: db.connection, batches: lines) { _ in }
        #expect(undone.conflicts == 0 && undone.changed == 1)
        #expect(try await db.connection.execute("SELECT j::text FROM docs").rows == before)
    }

    /// A row with one cell changed keeps the others as they are spelled: `1.000` for a numeric
    /// `1.0`, `-0` for a float8 `0` and `{"a": 1.000}` for a jsonb `{"a": 1.0}` are equal, so the
    /// review shows them unchanged, and they are not rewritten; an upsert's update likewise.
    @Test(arguments: [BulkUpdate.Mode.update, .upsert]) func equalCellsOfAChangedRowKeepTheirSpelling(
        mode: BulkUpdate.Mode
    ) async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE docs (id int PRIMARY KEY, n numeric, f float8, j jsonb, tx text);
                INSERT INTO docs VALUES (1, 1.0, 0, '{"a": 1.0}', 'old')
                """)
        var update = BulkUpdate(
            table: "docs", key: "id",
            columns: ["n", "f", "j", "tx"].map { BulkUpdate.Column($0, onEmpty: .clear) })
        update.mode = mode
        let input = Batch(
            columns: ["id", "n", "f", "j", "tx"], rows: [[1, "1.000", "-0", .object(["a": .decimal("1.000")]), "new"]])
        let stats = try await update.run(on: db.connection, batches: [input]) { _ in }
        #expect(stats.changed == 1)
        #expect(
            try await db.connection.execute("SELECT n::text, f::text, j::text, tx FROM docs").rows == [
                ["1.0", "0", #"{"a": 1.0}"#, "new"]
            ])
    }

    /// A value jsonb refuses is named at its own input row: the JSON parser's context (`JSON
    /// data, line 1: ...`) comes before the COPY's (`COPY ..., line 3, column j`).
    @Test func aValueJSONBRefusesIsNamedAtItsRow() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE docs (id int PRIMARY KEY, j jsonb)")
        let update = BulkUpdate(table: "docs", key: "id", columns: [.init("j", onEmpty: .clear)])
        let input = Batch(columns: ["id", "j"], rows: [[1, "{}"], [2, "[]"], [3, "{bad json"]])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(on: db.connection, batches: [input]) { _ in }
        }
        #expect(error.inputRow == 3)
        #expect(error.column == "j")
        #expect(
            error.message.hasPrefix("input row 3 (id 3), column j: invalid input syntax for type json"),
            "\(error.message)")
    }

    /// An array column takes a list as an array literal, whatever its strings hold (commas,
    /// quotes, backslashes, braces), nested lists and nulls included; a JSON list in a string
    /// (a CSV cell) too; the column's own text as it is. The undo's prior values put it back.
    @Test func anArrayColumnTakesAListAndItsUndoPutsItBack() async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE docs (id int PRIMARY KEY, tags text[], grid int[]);
                INSERT INTO docs SELECT n, '{old}', '{{1,2},{3,4}}' FROM generate_series(1, 4) AS n
                """)
        let table = "SELECT id, tags, grid::text FROM docs ORDER BY id"
        let before = try await db.connection.execute(table).rows
        let tricky: Value = .array(["a", "b,c", #"d"e"#, #"f\g"#, "{h}", .null, ""])
        let input = Batch(
            columns: ["id", "tags", "grid"],
            rows: [
                [1, tricky, .array([.array([5, 6]), .array([7, 8])])],
                [2, .array([]), .array([9])],
                [3, #"["x", "y,z"]"#, "{10,11}"],
                [4, "{plain,text}", .null],
            ])
        let update = BulkUpdate(
            table: "docs", key: "id", columns: [.init("tags", onEmpty: .clear), .init("grid", onEmpty: .clear)])
        var prior: [Batch] = []
        let stats = try await update.run(on: db.connection, batches: [input]) { prior.append($0) }
        #expect(stats.changed == 4)
        let tags = try await db.connection.execute(
            "SELECT array_to_json(tags)::text, grid::text FROM docs ORDER BY id"
        ).rows
        #expect(
            tags == [
                [#"["a","b,c","d\"e","f\\g","{h}",null,""]"#, "{{5,6},{7,8}}"], ["[]", "{9}"],
                [#"["x","y,z"]"#, "{10,11}"], [#"["plain","text"]"#, nil],
            ])

        var undo = update
        undo.exactValues = true
        let rows = prior.flatMap(\.rows).map { Array($0.prefix(3)) }
        _ = try await undo.run(on: db.connection, batches: [Batch(columns: ["id", "tags", "grid"], rows: rows)]) { _ in
        }
        #expect(try await db.connection.execute(table).rows == before)
    }

    /// A whole number that came as a double (`3.0`: some APIs write every number so) goes into
    /// an integer column as that integer, by the binary COPY (integer columns only) and the text
    /// one (a `varchar` beside them); `3.5` is the server's to refuse, named at its row.
    @Test(arguments: ["", ", note varchar(10), price numeric"])
    func aWholeNumberWrittenAsADoubleGoesIntoAnIntegerColumn(more: String) async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE stock (id int PRIMARY KEY, n int, big bigint, small smallint\(more));
                INSERT INTO stock (id) VALUES (1), (2)
                """)
        let update = BulkUpdate(
            table: "stock", key: "id",
            columns: [.init("n", onEmpty: .clear), .init("big", onEmpty: .clear), .init("small", onEmpty: .clear)])
        let input = Batch(
            columns: ["id", "n", "big", "small"],
            rows: [[.double(1.0), .double(3.0), .double(4_000_000_000), .double(-2)], [2, 5, .null, .double(0)]])
        let stats = try await update.run(on: db.connection, batches: [input]) { _ in }
        #expect(stats.changed == 2)
        #expect(
            try await db.connection.execute("SELECT id, n, big, small FROM stock ORDER BY id").rows == [
                [1, 3, 4_000_000_000, -2], [2, 5, nil, 0],
            ])
        let half = Batch(columns: ["id", "n", "big", "small"], rows: [[1, 4, 1, 1], [2, .double(3.5), 1, 1]])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(on: db.connection, batches: [half]) { _ in }
        }
        #expect(error.inputRow == 2 && error.column == "n", "\(error)")
    }

    /// So does a column whose values are integers under another name: a domain over int (a domain
    /// over that one too), an `int[]` (a list, or a JSON list in a CSV cell), an array of the
    /// domain and a domain over `int[]` (they were "invalid input syntax for type integer: "3.0"").
    @Test func aWholeNumberWrittenAsADoubleGoesIntoADomainOverIntOrAnIntArray() async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE DOMAIN pct AS int CHECK (VALUE BETWEEN 0 AND 100);
                CREATE DOMAIN small_pct AS pct CHECK (VALUE < 10);
                CREATE DOMAIN counts AS int[];
                CREATE TABLE stock (id int PRIMARY KEY, p pct, s small_pct, nums int[], ps pct[], c counts);
                INSERT INTO stock (id) VALUES (1), (2)
                """)
        let names = ["p", "s", "nums", "ps", "c"]
        let update = BulkUpdate(table: "stock", key: "id", columns: names.map { .init($0, onEmpty: .clear) })
        let input = Batch(
            columns: ["id"] + names,
            rows: [
                [
                    1, .double(3.0), .double(9), .array([.double(1.0), 2]), .array([.double(50)]),
                    .array([.double(-4)]),
                ],
                [2, .decimal("100.00"), 0, "[1.0, 2, null]", "[[1.0], [2.0]]", "{7,8}"],
            ])
        let stats = try await update.run(on: db.connection, batches: [input]) { _ in }
        #expect(stats.changed == 2)
        #expect(
            try await db.connection.execute("SELECT id, p, s, nums::text, ps::text, c::text FROM stock ORDER BY id")
                .rows == [[1, 3, 9, "{1,2}", "{50}", "{-4}"], [2, 100, 0, "{1,2,NULL}", "{{1},{2}}", "{7,8}"]])
        let half = Batch(columns: ["id"] + names, rows: [[1, 1, 1, .array([.double(3.5)]), .null, .null]])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(on: db.connection, batches: [half]) { _ in }
        }
        #expect(error.inputRow == 1 && error.column == "nums", "\(error)")
    }

    /// And so does an `int[]` cell in PostgreSQL's own array spelling, as a person types one into
    /// a CSV (`{1.0,2}` was "invalid input syntax for type integer: "1.0""): its elements, nested,
    /// spaced, bounded or quoted (`{"1.0"}`, whose quotes only quote), while `NULL` and text in a
    /// `text[]` stay as written;
    /// `{1.5,2}` is refused naming its row and column, as a lone `1.5` is.
    @Test func aWholeNumberInAnIntArrayWrittenAsPostgreSQLSpellsOneGoesInAsTheInteger() async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE DOMAIN counts AS int[];
                CREATE TABLE stock (id int PRIMARY KEY, nums int[], c counts, grid int[], words text[]);
                INSERT INTO stock (id) VALUES (1), (2)
                """)
        let names = ["nums", "c", "grid", "words"]
        let update = BulkUpdate(table: "stock", key: "id", columns: names.map { .init($0, onEmpty: .clear) })
        let input = Batch(
            columns: ["id"] + names,
            rows: [
                [1, "{1.0,2,NULL}", "{ -2.0E1 , 1e3 }", "{{1.0,NULL},{3,4.00}}", "{1.0,\"2.0\"}"],
                [2, "[0:1]={7.0,8}", #"{ "1.0" ,"2","3\.0"}"#, "{{5}}", "{a}"],
            ])
        let stats = try await update.run(on: db.connection, batches: [input]) { _ in }
        #expect(stats.changed == 2)
        #expect(
            try await db.connection.execute(
                "SELECT id, nums::text, c::text, grid::text, words::text FROM stock ORDER BY id"
            ).rows == [
                [1, "{1,2,NULL}", "{-20,1000}", "{{1,NULL},{3,4}}", "{1.0,2.0}"],
                [2, "[0:1]={7,8}", "{1,2,3}", "{{5}}", "{a}"],
            ])
        let half = Batch(columns: ["id"] + names, rows: [[1, "{1,2}", "{1}", "{{1.5,2}}", "{}"]])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(on: db.connection, batches: [half]) { _ in }
        }
        #expect(error.inputRow == 1 && error.column == "grid" && error.value == "{{1.5,2}}", "\(error)")
    }

    /// A `json` column (not `jsonb`) has no equality, so no change to it can be told from none:
    /// refused before anything is copied, saying how to make it one that can.
    @Test func aJSONColumnIsRefusedSayingToMakeItJSONB() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE docs (id int PRIMARY KEY, j json)")
        let update = BulkUpdate(table: "docs", key: "id", columns: [.init("j", onEmpty: .clear)])
        let input = Batch(columns: ["id", "j"], rows: [[1, .object(["x": 1])]])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(on: db.connection, batches: [input]) { _ in }
        }
        #expect(error.column == "j")
        #expect(error.message.contains("ALTER TABLE docs ALTER COLUMN j TYPE jsonb"), "\(error.message)")
    }
}
