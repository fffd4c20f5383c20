import Foundation
import SluiceCore
import Testing

/// A query the server refuses is reported where the plan writes it: the file, the line and
/// column of the character PostgreSQL names, in a folded block too.
@Suite struct QueryErrorTests {
    @Test func aRefusedQueryIsLocatedInThePlan() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 5)
        defer { Task { await fixture.tearDown() } }
        let plan = try await fixture.queryPlan(
            named: "bad-sql", sql: "sql: >\n  SELECT id\n  FROM tracks WHER spotify_id IS NOT NULL")
        let failed = try await fixture.sluice.run(["run", plan.path, "--runs-dir", fixture.runsDirectory])
        #expect(failed.status == 1, "\(failed.stderr)")
        // `spotify_id`, the token after the unknown `WHER`: line 11, column 24.
        #expect(
            failed.stdout.contains("\(plan.path):11:24: error: stages.query.sql: ERROR 42601: syntax error"),
            "\(failed.stdout)")
    }
}
