import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

/// The input table has statistics on its key before it is joined with the table
/// (`BulkUpdate.analyzeInput`): without them the server plans it as holding 200 distinct keys
/// and reads the whole table, however few rows the input has.
@Suite struct InputStatisticsTests {
    /// How often `tracks` was read whole and looked into through an index, as far as the
    /// server's statistics know (a session's figures reach them by the time it ends).
    static func scans(_ connection: PostgresConnection) async throws -> (whole: Int, index: Int) {
        let row = try await connection.execute(
            "SELECT seq_scan, coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'tracks'"
        ).rows
        let counts = try #require(row.first)
        return (Int(counts[0].intValue ?? -1), Int(counts[1].intValue ?? -1))
    }

    @Test func aFewRowsAppliedToALargeTableAreFoundThroughItsKeyNotByReadingItWhole() async throws {
        let db = try await AnalyzeAfterApplyTests.scratch(tracks: 20_000)
        // The figures of the session that loaded the table, in before they are counted from.
        _ = try await db.connection.execute("SELECT pg_stat_force_next_flush()")
        let before = try await Self.scans(db.connection)
        let applier = try await db.connect()
        var undone = 0
        // 20 rows: looked up through the key they cost the planner a fraction of a table scan.
        let stats = try await Tracks.update.run(on: applier, batches: [AnalyzeAfterApplyTests.filling(20)]) {
            undone += $0.rows.count
        }
        await applier.close()
        #expect(stats.changed == 20)
        #expect(undone == 20)
        // Both joins (the prior values, then the UPDATE) went through the primary key.
        let reported = try await eventually { try await Self.scans(db.connection).index > before.index }
        #expect(reported)
        #expect(try await Self.scans(db.connection).whole == before.whole)
    }
}
