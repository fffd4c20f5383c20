import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

/// A large apply refreshes the planner's statistics of the columns it wrote after COMMIT
/// (``BulkUpdate/analyzeShare``); a small one, a dry run, or `analyzeShare: nil` leaves them.
@Suite struct AnalyzeAfterApplyTests {
    /// `tracks` tracks with no popularity or ISRC, analyzed: the planner knows both columns empty.
    /// Autovacuum is off for its table: the tests tell an apply's own ANALYZE from none, and on a
    /// loaded machine autovacuum analyzed the table between a write of 860 rows and the check.
    static func scratch(tracks: Int = 1_000) async throws -> Scratch {
        try await Scratch.make(
            schema: TestPostgres.tracksSchema + """
                ;
                ALTER TABLE tracks SET (autovacuum_enabled = false);
                INSERT INTO tracks (id, title)
                SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'Track ' || i
                FROM generate_series(1, \(tracks)) AS i;
                ANALYZE tracks
                """)
    }

    /// Rows 1 to `count`, each given a popularity and an ISRC.
    static func filling(_ count: Int) -> Batch {
        Batch(
            columns: ["id", "spotify_popularity", "isrc"],
            rows: (1...count).map { i in
                let hex = String(i, radix: 16)
                let id = "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - hex.count) + hex
                return [.string(id), .int(Int64(i % 101)), .string("USABC\(1_000_000 + i)")]
            })
    }

    /// The share of NULLs the planner believes the column holds.
    static func nullShare(_ column: String, on connection: PostgresConnection) async throws -> Double {
        let row = try await connection.execute(
            "SELECT null_frac FROM pg_stats WHERE tablename = 'tracks' AND attname = $1", [.string(column)]
        ).rows
        return try #require(row.first?.first?.doubleValue)
    }

    static var update: BulkUpdate {
        var update = Tracks.update
        update.analyzeShare = 0.1
        return update
    }

    @Test func anApplyOverATenthOfTheTableAnalyzesTheColumnsItWrote() async throws {
        let db = try await Self.scratch()
        #expect(try await Self.nullShare("isrc", on: db.connection) == 1)
        // 200 rows written: more than 50 + 10% of 1,000.
        let stats = try await Self.update.run(on: db.connection, batches: [Self.filling(200)]) { _ in }
        #expect(stats.changed == 200)
        #expect(stats.analyzed)
        #expect(try await Self.nullShare("isrc", on: db.connection) == 0.8)
        #expect(try await Self.nullShare("spotify_popularity", on: db.connection) == 0.8)
        // The planner now expects about 200 rows with an ISRC, not 1.
        let plan = try await db.connection.execute("EXPLAIN SELECT count(*) FROM tracks WHERE isrc IS NOT NULL").rows
        let estimate = plan.compactMap { $0.first?.text }.joined(separator: "\n")
        #expect(estimate.contains("rows=200"), "\(estimate)")
    }

    @Test func aSmallApplyADryRunOrNoShareLeavesTheStatistics() async throws {
        let db = try await Self.scratch()
        // 140 rows: not more than 50 + 10% of 1,000.
        let small = try await Self.update.run(on: db.connection, batches: [Self.filling(140)]) { _ in }
        #expect(small.changed == 140)
        #expect(!small.analyzed)
        #expect(try await Self.nullShare("isrc", on: db.connection) == 1)

        var dryRun = Self.update
        dryRun.dryRun = true
        let tried = try await dryRun.run(on: db.connection, batches: [Self.filling(1000)]) { _ in }
        #expect(tried.changed == 860)
        #expect(!tried.analyzed)

        var never = Self.update
        never.analyzeShare = nil
        let written = try await never.run(on: db.connection, batches: [Self.filling(1000)]) { _ in }
        #expect(written.changed == 860)
        #expect(!written.analyzed)
        #expect(try await Self.nullShare("isrc", on: db.connection) == 1)
    }

    // Without the wait bound the ANALYZE would wait for the holder, which waits for the apply.
    @Test(.timeLimit(.minutes(1))) func aTableHeldByAVacuumIsLeftToAutovacuumNotWaitedFor() async throws {
        let db = try await Self.scratch()
        // Another session asks for the lock VACUUM and ANALYZE take while the apply holds the
        // table: queued behind the apply, it is granted at COMMIT, as to an autovacuum waiting.
        let holder = try await db.connection.openAnother()
        let watcher = try await db.connection.openAnother()
        _ = try await holder.execute("BEGIN")
        var locking: Task<Void, any Error>?
        let stats = try await Self.update.run(on: db.connection, batches: [Self.filling(500)]) { _ in
            guard locking == nil else { return }
            locking = Task { _ = try await holder.execute("LOCK TABLE tracks IN SHARE UPDATE EXCLUSIVE MODE") }
            let waiting = try await eventually {
                try await watcher.execute(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'tracks'::regclass"
                ).scalar.intValue == 1
            }
            #expect(waiting)
        }
        try await locking?.value
        _ = try await holder.execute("ROLLBACK")
        await holder.close()
        await watcher.close()
        #expect(stats.changed == 500)
        #expect(!stats.analyzed)
        #expect(try await Self.nullShare("isrc", on: db.connection) == 1)
    }

    @Test func aRoleThatMayNotAnalyzeTheTableLeavesItToAutovacuum() async throws {
        let db = try await Self.scratch()
        // A role that may update the table but owns neither it nor the database.
        let role = "sluice_applier_\(UInt32.random(in: 0...UInt32.max))"
        _ = try await db.connection.execute("CREATE ROLE \(role); GRANT SELECT, UPDATE ON tracks TO \(role)")
        _ = try await db.connection.execute("SET ROLE \(role)")
        let stats = try await Self.update.run(on: db.connection, batches: [Self.filling(500)]) { _ in }
        _ = try await db.connection.execute("RESET ROLE")
        _ = try await db.connection.execute("REVOKE ALL ON tracks FROM \(role); DROP ROLE \(role)")
        #expect(stats.changed == 500)
        #expect(!stats.analyzed)
        #expect(try await Self.nullShare("isrc", on: db.connection) == 1)
    }
}
