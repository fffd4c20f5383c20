import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

@Suite struct ConnectionTests {
    @Test func decodesEveryListedTypeByOID() async throws {
        let db = try await Scratch.make()
        _ = try await db.connection.execute("SET TimeZone = 'UTC'")
        let result = try await db.connection.execute(
            """
            SELECT true AS b, false AS f, 7::int2 AS i2, -42::int4 AS i4, 9223372036854775807::int8 AS i8,
                   1.5::float4 AS f4, 0.1::float8 AS f8, 'NaN'::float8 AS nan, '-Infinity'::float8 AS ninf,
                   12345678901234567890.123456789::numeric AS n, 'héllo'::text AS t, 'v'::varchar(3) AS v,
                   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u,
                   '{"a": [1, 2.5, null, "x"], "b": {"c": true}}'::json AS j, '{"k": 1}'::jsonb AS jb,
                   '"x"'::jsonb AS js, 'null'::jsonb AS jn, '5'::json AS j5,
                   '2024-01-02 03:04:05.123456+00'::timestamptz AS ts, NULL::int AS nul,
                   '1 day'::interval AS other
            """)
        #expect(
            result.columns == [
                "b", "f", "i2", "i4", "i8", "f4", "f8", "nan", "ninf", "n", "t", "v", "u", "j", "jb", "js", "jn", "j5",
                "ts", "nul", "other",
            ])
        let row = result.rows[0]
        #expect(row[0] == .bool(true))
        #expect(row[1] == .bool(false))
        #expect(row[2] == .int(7))
        #expect(row[3] == .int(-42))
        #expect(row[4] == .int(Int64.max))
        #expect(row[5] == .double(1.5))
        #expect(row[6] == .double(0.1))
        // JSON (the spools) has no NaN or infinity: they stay the server's text, which a CSV keeps.
        #expect(row[7] == .string("NaN"))
        #expect(row[8] == .string("-Infinity"))
        #expect(row[9] == .string("12345678901234567890.123456789"))
        #expect(row[10] == .string("héllo"))
        #expect(row[11] == .string("v"))
        #expect(row[12] == .string("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"))
        #expect(
            row[13] == .object(["a": .array([.int(1), .double(2.5), .null, .string("x")]), "b": .object(["c": true])]))
        #expect(row[14] == .object(["k": .int(1)]))
        // A JSON scalar stays its JSON text: written back, the string is not a number, null not NULL.
        #expect(row[15] == .string(#""x""#))
        #expect(row[16] == .string("null"))
        #expect(row[17] == .string("5"))
        #expect(row[18] == .string("2024-01-02 03:04:05.123456+00"))
        #expect(row[19] == .null)
        #expect(row[20] == .string("1 day"))
    }

    @Test func sendsParametersAsTextWithNullAsNull() async throws {
        let db = try await Scratch.make()
        let result = try await db.connection.execute(
            "SELECT $1::int + 1, $2::text, $3::text IS NULL, $4::bool, $5::float8, $6::jsonb, $7::float8",
            [
                .int(41), .string("it's; DROP"), .null, .bool(true), .double(0.1), .object(["k": .array([1, "two"])]),
                .double(.infinity),
            ])
        #expect(
            result.rows[0] == [
                .int(42), .string("it's; DROP"), .bool(true), .bool(true), .double(0.1),
                .object(["k": .array([1, "two"])]),
                .string("Infinity"),  // sent as PostgreSQL spells it, read back as that text
            ])
    }

    @Test func reportsAffectedRowsAndCommandTag() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE t (v int); INSERT INTO t SELECT generate_series(1, 5)")
        let result = try await db.connection.execute("UPDATE t SET v = v + 1 WHERE v > $1", [.int(2)])
        #expect(result.affectedRows == 3)
        #expect(result.commandTag == "UPDATE 3")
    }

    @Test func syntaxErrorCarriesSQLStateAndPosition() async throws {
        let db = try await Scratch.make()
        let error = try await #require(throws: PostgresError.self) {
            try await db.connection.execute("SELECT 1,\n  FROM nowhere")
        }
        #expect(error.kind == .server)
        #expect(error.sqlState == "42601")
        #expect(error.position == 13)
        #expect(error.statement == "SELECT 1,\n  FROM nowhere")
        #expect(error.description.hasPrefix("ERROR 42601: syntax error at or near \"FROM\""))
        #expect(error.description.contains("LINE 2:   FROM nowhere\n          ^"))
        // The connection is still usable after an error.
        #expect(try await db.connection.execute("SELECT 1").scalar == .int(1))
    }

    /// Describing names the columns a query would return and runs nothing: a write inside it
    /// does not happen, a division by zero is not reached. A refused statement carries its
    /// position in the SQL given; the connection goes on after either.
    @Test func describeNamesTheColumnsWithoutRunning() async throws {
        let db = try await Scratch.make()
        _ = try await db.connection.execute("CREATE TABLE t (id int)")
        let columns = try await db.connection.describe(
            "WITH gone AS (INSERT INTO t VALUES (1) RETURNING id) SELECT count(*) AS \"Rows\", 1 / 0, id FROM gone GROUP BY id"
        )
        #expect(columns == ["Rows", "?column?", "id"])
        #expect(try await db.connection.execute("SELECT count(*) FROM t").scalar == .int(0))
        let error = try await #require(throws: PostgresError.self) {
            try await db.connection.describe("SELECT nosuch FROM t")
        }
        #expect(error.sqlState == "42703")
        #expect(error.position == 8)
        #expect(try await db.connection.describe("SELECT id FROM t") == ["id"])
        #expect(try await db.connection.execute("SELECT 1").scalar == .int(1))
    }

    @Test func undefinedTableNamesTheTable() async throws {
        let db = try await Scratch.make()
        let error = try await #require(throws: PostgresError.self) {
            try await db.connection.execute("SELECT * FROM missing_table")
        }
        #expect(error.sqlState == "42P01")
        #expect(error.position == 15)
        #expect(error.message == "relation \"missing_table\" does not exist")
    }

    @Test func transactionCommitsOrRollsBack() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE t (v int)")
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await db.connection.transaction { connection in
                _ = try await connection.execute("INSERT INTO t VALUES (1)")
                throw Boom()
            }
        }
        #expect(try await db.connection.execute("SELECT count(*) FROM t").scalar == .int(0))
        let value = try await db.connection.transaction { connection in
            try await connection.execute("INSERT INTO t VALUES (2)").affectedRows
        }
        #expect(value == 1)
        #expect(try await db.connection.execute("SELECT count(*) FROM t").scalar == .int(1))
    }

    @Test func transactionWithASwallowedErrorDoesNotClaimToCommit() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE t (v int)")
        await #expect(throws: PostgresError.self) {
            try await db.connection.transaction { connection in
                _ = try await connection.execute("INSERT INTO t VALUES (1)")
                _ = try? await connection.execute("SELECT * FROM missing_table")
            }
        }
        #expect(try await db.connection.execute("SELECT count(*) FROM t").scalar == .int(0))
    }

    @Test func quoteIdentifierDefeatsInjection() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE x (v int); CREATE TABLE tracks (v int)")
        let hostile = "tracks\"; DROP TABLE x; --"
        let quoted = try PostgresConnection.quoteIdentifier(hostile)
        #expect(quoted == "\"tracks\"\"; DROP TABLE x; --\"")
        let error = try await #require(throws: PostgresError.self) {
            try await db.connection.execute("SELECT * FROM \(quoted)")
        }
        #expect(error.sqlState == "42P01")
        #expect(try await db.connection.execute("SELECT count(*) FROM x").scalar == .int(0))
    }

    @Test(arguments: [
        ("public.tracks", "\"public\".\"tracks\""),
        ("tracks", "\"tracks\""),
        ("\"odd.name\".t", "\"odd.name\".\"t\""),
        ("Mixed", "\"Mixed\""),
        ("a\"b", "\"a\"\"b\""),
        // A quote followed by a combining accent is one Character, and still a quote.
        ("a\"\u{301}b", "\"a\"\"\u{301}b\""),
    ])
    func quoteIdentifierQuotesEachPart(name: String, expected: String) throws {
        #expect(try PostgresConnection.quoteIdentifier(name) == expected)
    }

    @Test(arguments: [
        ("plain", "'plain'"),
        ("it's", "'it''s'"),
        ("back\\slash", " E'back\\\\slash'"),
        ("'\u{301}", "'''\u{301}'"),
    ])
    func quoteLiteralEscapesAsLibpqDoes(text: String, expected: String) throws {
        #expect(try PostgresConnection.quoteLiteral(text) == expected)
    }

    @Test func quoteLiteralRoundTrips() async throws {
        let db = try await Scratch.make()
        let texts = ["plain", "it's", "back\\slash", "'; DROP TABLE x; --", "ünï\ncode 🎉", "'\u{301}; SELECT 1; --"]
        for text in texts {
            let literal = try PostgresConnection.quoteLiteral(text)
            #expect(try await db.connection.execute("SELECT \(literal)").scalar == .string(text))
        }
        // The escape-string form means the same whatever the server's setting.
        _ = try await db.connection.execute("SET standard_conforming_strings = off")
        let literal = try PostgresConnection.quoteLiteral("back\\slash 'n' quote")
        #expect(try await db.connection.execute("SELECT \(literal)").scalar == .string("back\\slash 'n' quote"))
    }

    @Test func aNameWithACombiningQuoteRoundTrips() async throws {
        let db = try await Scratch.make()
        let name = "t\"\u{301}; DROP"
        _ = try await db.connection.execute("CREATE TABLE \(try PostgresConnection.quoteIdentifier(name)) (v int)")
        let found = try await db.connection.execute("SELECT relname::text FROM pg_class WHERE relname LIKE 't%DROP'")
        #expect(found.scalar == .string(name))
    }

    @Test func quotingRefusesNUL() {
        let identifier = #expect(throws: PostgresError.self) { try PostgresConnection.quoteIdentifier("cut\0here") }
        let literal = #expect(throws: PostgresError.self) { try PostgresConnection.quoteLiteral("cut\0here") }
        #expect(identifier?.message == "an identifier cannot contain a NUL character")
        #expect(literal?.message == "a string literal cannot contain a NUL character")
        #expect(identifier?.kind == .client && literal?.kind == .client)
    }

    @Test func schemaQualifiedTableWorksThroughQuoting() async throws {
        let db = try await Scratch.make(schema: "CREATE SCHEMA music; CREATE TABLE music.songs (v int)")
        let name = try PostgresConnection.quoteIdentifier("music.songs")
        #expect(try await db.connection.execute("INSERT INTO \(name) VALUES (1)").affectedRows == 1)
    }

    @Test func secondOperationDuringAStreamIsRefused() async throws {
        let db = try await Scratch.make()
        let error = try await #require(throws: PostgresError.self) {
            _ = try await db.connection.stream("SELECT generate_series(1, 10)", batchSize: 2) { _ in
                _ = try await db.connection.execute("SELECT 1")
            }
        }
        #expect(error.kind == .client)
        #expect(error.message.contains("busy"))
        #expect(try await db.connection.execute("SELECT 2").scalar == .int(2))
    }

    @Test func closedConnectionRefusesWork() async throws {
        let db = try await Scratch.make()
        await db.connection.close()
        let error = try await #require(throws: PostgresError.self) {
            try await db.connection.execute("SELECT 1")
        }
        #expect(error.kind == .connectionLost)
    }

    @Test func rewritesConninfoForAnotherDatabase() throws {
        let rewritten = try PostgresConnection.conninfo(
            "postgresql://u:p%40ss@127.0.0.1:5999/one?sslmode=disable", setting: ["dbname": "two"])
        #expect(rewritten.contains("dbname='two'"))
        #expect(rewritten.contains("password='p@ss'"))
        #expect(rewritten.contains("port='5999'"))
        #expect(!rewritten.contains("one"))
    }
}
