import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

/// What a session prints depends on settings a database or role may change (`DateStyle`,
/// `extra_float_digits`, `IntervalStyle`, `TimeZone`): the prior values an apply keeps are such
/// text, and its undo, on another connection, maybe after the settings changed, must read them
/// back as the same values.
@Suite struct SessionFormatTests {
    @Test func priorValuesReadBackExactlyWhateverTheDatabasePrintsWith() async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE ev (id int PRIMARY KEY, d date, ts timestamptz, f float8, iv interval);
                INSERT INTO ev VALUES (1, '2024-02-01', '2024-02-01 12:00:00+00', 0.12345678901234568, '1 day -02:03:04')
                """)
        func setDatabase(_ settings: [(String, String)]) async throws {
            for (name, value) in settings {
                _ = try await db.connection.execute(
                    "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET \(name) = %L', current_database(), '\(value)'); END $$"
                )
            }
        }
        let same = """
            SELECT d = '2024-02-01'::date, ts = '2024-02-01 12:00:00+00'::timestamptz,
            f = 0.12345678901234568::float8, iv = '1 day -02:03:04'::interval FROM ev
            """
        try await setDatabase([
            ("DateStyle", "SQL, DMY"), ("extra_float_digits", "-3"), ("TimeZone", "Asia/Kolkata"),
            ("IntervalStyle", "sql_standard"),
        ])
        let applying = try await db.connect()
        let update = BulkUpdate(
            table: "ev", key: "id",
            columns: ["d", "ts", "f", "iv"].map { BulkUpdate.Column($0, onEmpty: .clear) })
        let input = Batch(
            columns: ["id", "d", "ts", "f", "iv"], rows: [[1, "2024-05-05", "2024-05-05 05:05:05+00", 2.5, "3 hours"]])
        var prior: [Batch] = []
        let stats = try await update.run(on: applying, batches: [input]) { prior.append($0) }
        await applying.close()
        #expect(stats.changed == 1)

        try await setDatabase([
            ("DateStyle", "ISO, MDY"), ("extra_float_digits", "0"), ("TimeZone", "UTC"), ("IntervalStyle", "iso_8601"),
        ])
        let undoing = try await db.connect()
        var undo = update
        undo.exactValues = true
        let rows = prior.flatMap(\.rows).map { Array($0.prefix(5)) }
        _ = try await undo.run(on: undoing, batches: [Batch(columns: ["id", "d", "ts", "f", "iv"], rows: rows)]) { _ in
        }
        await undoing.close()
        #expect(try await db.connection.execute(same).rows == [[true, true, true, true]])
    }
}
