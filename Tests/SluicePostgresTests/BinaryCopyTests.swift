import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

@Suite struct BinaryCopyTests {
    static let columns = "b bool, i2 int2, i4 int4, i8 int8, f float8, t text, v varchar(4), u uuid"
    static let names = "b, i2, i4, i8, f, t, v, u"

    /// Values of every kind a binary COPY takes, and spellings it leaves to the server's text
    /// input (which then parses them as it always did).
    static let rows: [[Value]] = [
        [true, 1, 2, 3, 1.5, "plain", "abcd", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],
        [false, -32768, -2_147_483_648, .int(Int64.min), .int(7), "", "", "A0EEBC999C0B4EF8BB6D6BB9BD380A11"],
        ["yes", "+7", "007", "-12", .double(-0.0), .int(42), .bool(true), "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}"],
        [.int(0), " 7", "12 ", "\t5\n", .double(1e300), .double(0.1), "ab  ", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12"],
        [
            "of", .int(32767), .int(2_147_483_647), "9223372036854775807", "2.5", "tab\tnew\nline\\", "ünïc",
            "a0eebc999c0b4ef8bb6d6bb9bd380a13",
        ],
        [.null, .null, .null, .null, .null, .null, .null, .null],
        [
            "t", "1", "2", "3", .double(.infinity), .array([1, "x"]), "abcd    ",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a14",
        ],
    ]

    /// The types of `table`'s columns, in order, as ``BinaryCopyEncoding`` takes them.
    static func types(
        _ table: String, on connection: PostgresConnection
    ) async throws
        -> [BinaryCopyEncoding.ColumnType]
    {
        try await connection.execute(
            "SELECT atttypid::int8, atttypmod FROM pg_attribute WHERE attrelid = '\(table)'::regclass "
                + "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        ).rows.map { (UInt32($0[0].intValue ?? 0), Int32($0[1].intValue ?? -1)) }
    }

    @Test func binaryRowsAndDeclinedRowsStoreWhatTextFormatStores() async throws {
        let db = try await Scratch.make(
            schema: "CREATE TABLE text_copy (n int, \(Self.columns)); CREATE TABLE binary_copy (n int, \(Self.columns))"
        )
        let numbered = Self.rows.enumerated().map { [Value.int(Int64($0.offset + 1))] + $0.element }
        func copy(into table: String) -> String { "COPY \(table) (n, \(Self.names)) FROM STDIN" }
        let textCopied = try await db.connection.copyIn(copy(into: "text_copy")) {
            for row in numbered { try await $0.write(row: row) }
        }
        let encoding = try #require(
            BinaryCopyEncoding(types: try await Self.types("binary_copy", on: db.connection)))
        let binaryCopied = try await db.connection.copyIn(copy(into: "binary_copy"), binary: encoding) { writer in
            for row in numbered { try await writer.write(row: row) }
        }
        #expect(textCopied == Self.rows.count)
        #expect(binaryCopied == Self.rows.count)
        let differing = try await db.connection.execute(
            """
            SELECT n FROM ((TABLE text_copy EXCEPT ALL TABLE binary_copy) \
            UNION ALL (TABLE binary_copy EXCEPT ALL TABLE text_copy)) AS d
            """
        ).rows
        #expect(differing.isEmpty)
        // The varchar(4) that only fits once its trailing spaces go, as the text input cuts them.
        #expect(try await db.connection.execute("SELECT v FROM binary_copy WHERE n = 7").scalar == "abcd")
    }

    @Test func onlyTypesItEncodesExactlyGetAnEncoding() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE a (\(Self.columns)); CREATE TABLE b (k int, x numeric)")
        #expect(BinaryCopyEncoding(types: try await Self.types("a", on: db.connection)) != nil)
        #expect(BinaryCopyEncoding(types: try await Self.types("b", on: db.connection)) == nil)
    }

    /// A row the server rejects is named by its place among all the rows written, though it went
    /// in the text COPY after the binary rows (which, outside a transaction, stay copied).
    @Test func anErrorNamesTheRowAsWritten() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE t (i int4, u uuid)")
        let encoding = try #require(BinaryCopyEncoding(types: try await Self.types("t", on: db.connection)))
        let rows: [[Value]] = [
            [1, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"], [" 2", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12"],
            [3, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13"], [4, "not a uuid"],
            [5, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a15"],
        ]
        let error = try await #require(throws: PostgresError.self) {
            _ = try await db.connection.copyIn("COPY t (i, u) FROM STDIN", binary: encoding) { writer in
                for row in rows { try await writer.write(row: row) }
            }
        }
        #expect(error.sqlState == "22P02")
        #expect(error.context?.contains("line 4, column u") == true, "\(error.context ?? "")")
        #expect(try await db.connection.execute("SELECT count(*) FROM t").scalar == .int(3))
    }

    /// The spool of a binary COPY sends the same rows again; one that holds only part of the
    /// rows (some went as text) refuses to be sent.
    @Test func aSpoolReplaysABinaryCopyAndRefusesAPartOne() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE a (i int4, t text); CREATE TABLE b (i int4, t text)")
        let encoding = try #require(BinaryCopyEncoding(types: try await Self.types("a", on: db.connection)))
        let whole = try CopySpool(limit: 1 << 20)
        _ = try await db.connection.copyIn("COPY a (i, t) FROM STDIN", binary: encoding) { writer in
            writer.spool = whole
            for i in 1...5000 { try await writer.write(row: [.int(Int64(i)), .string("row \(i)")]) }
        }
        #expect(whole.failure == nil)
        #expect(try await whole.copy(into: db.connection, "COPY b (i, t) FROM STDIN") == 5000)
        let same = try await db.connection.execute("SELECT count(*) FROM (TABLE a EXCEPT TABLE b) AS d").scalar
        #expect(same == .int(0))

        let part = try CopySpool(limit: 1 << 20)
        _ = try await db.connection.copyIn("COPY a (i, t) FROM STDIN", binary: encoding) { writer in
            writer.spool = part
            try await writer.write(row: [1, "x"])
            try await writer.write(row: [" 2", "y"])
        }
        #expect(part.failure != nil)
        await #expect(throws: PostgresError.self) {
            _ = try await part.copy(into: db.connection, "COPY b (i, t) FROM STDIN")
        }
    }
}
