import Foundation
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

@testable import Sluice

@Suite struct QueryStageTests {
    @Test func streamsEveryRowInBatchesAndReleasesTheDatabase() async throws {
        let db = try await TestDatabase.make(tracks: 23)
        defer { Task { await db.close() } }
        let plan = try await TestPlans.spotify(database: db.conninfo, overrides: ["query.batch_size=5"])
        let stage = try TestPlans.stage("query", of: plan)
        let harness = try await StageHarness(stage: stage)
        let out = try await harness.run(stage, input: nil)

        #expect(out.map(\.count) == [5, 5, 5, 5, 3])
        #expect(out.first?.columns == ["track_id", "spotify_id"])
        #expect(rows(out).map { $0["track_id"] } == (1...23).map { .string(TestDatabase.track($0)) })
        #expect(harness.context.progress.expectedTotal == 23)
        #expect(harness.counters["rows"] == 23)
        // The spool is gone and no session of ours is left open on the server. A closed session's
        // server process leaves pg_stat_activity once it has read the goodbye and exited, which on
        // a loaded machine may be a moment after the stage returns.
        #expect(try await harness.files().isEmpty)
        let closed = try await eventually(timeout: .seconds(30)) {
            try await db.connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).scalar == 0
        }
        #expect(closed)
    }

    @Test func anEmptyResultSendsNothing() async throws {
        let db = try await TestDatabase.make(tracks: 0)
        defer { Task { await db.close() } }
        let stage = try TestPlans.stage("query", of: try await TestPlans.spotify(database: db.conninfo))
        let harness = try await StageHarness(stage: stage)
        #expect(try await harness.run(stage, input: nil).isEmpty)
        #expect(harness.context.progress.expectedTotal == 0)
    }

    /// A `float8` NaN or infinity reaches the CSV and the spool as PostgreSQL spells it: JSON has
    /// no spelling for them, and an empty cell would say "not available".
    @Test func aNonFiniteFloatKeepsItsSpellingThroughTheSpool() async throws {
        let db = try await TestDatabase.make(tracks: 0)
        defer { Task { await db.close() } }
        let sql = "SELECT x AS track_id, 'id' AS spotify_id FROM unnest('{NaN,Infinity,-Infinity,2.5}'::float8[]) AS x"
        let plan = try await TestPlans.spotify(database: db.conninfo, overrides: ["query.sql=\(sql)"])
        let stage = try TestPlans.stage("query", of: plan)
        let out = try await StageHarness(stage: stage).run(stage, input: nil)
        let values = rows(out).map { $0["track_id"] }
        #expect(values == [.string("NaN"), .string("Infinity"), .string("-Infinity"), .double(2.5)])
        #expect(values.map { JSON.encode($0 ?? .null) } == [#""NaN""#, #""Infinity""#, #""-Infinity""#, "2.5"])
    }

    @Test func aSQLErrorCarriesItsSQLStateAndPosition() async throws {
        let db = try await TestDatabase.make(tracks: 1)
        defer { Task { await db.close() } }
        let plan = try await TestPlans.spotify(
            database: db.conninfo, overrides: ["query.sql=SELECT nope AS track_id, spotify_id FROM tracks"])
        let stage = try TestPlans.stage("query", of: plan)
        let located = await #expect(throws: QueryStage.SQLError.self) {
            try await StageHarness(stage: stage).run(stage, input: nil)
        }
        let error = located?.underlying
        #expect(error?.sqlState == "42703")
        #expect(error?.position == 8)
        #expect(error?.description.contains("LINE 1: SELECT nope AS track_id, spotify_id FROM tracks") == true)
        // Where the plan writes it: the --set, at the column of `nope`.
        #expect(located?.description.hasPrefix("--set:1:18: error: stages.query.sql: ERROR 42703") == true)
    }
}
