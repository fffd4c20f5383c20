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

    /// After a `${VAR}`, the character the server names is located, and quoted, where the plan
    /// writes it: not shifted by the value's length, which for a secret would tell its length.
    @Test func aRefusedQueryWithAVariableIsLocatedWhereThePlanWritesIt() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 5)
        defer { Task { await fixture.tearDown() } }
        let flow = try await fixture.queryPlan(
            named: "flow-sql", sql: "sql: \"SELECT id FROM tracks WHERE '${DB_PASSPHRASE}' <> nosuchcol\"")
        let block = try await fixture.queryPlan(
            named: "block-sql",
            sql: "sql: |\n  SELECT id FROM tracks\n  WHERE '${DB_PASSPHRASE}' <> '${TBL}'\n  AND nosuchcol")
        var environment = fixture.sluice.environment
        environment["DB_PASSPHRASE"] = "pass-PHRASE-7731-" + String(repeating: "x", count: 40)
        environment["TBL"] = "tracks"
        let sluice = SluiceProcess(environment: environment, directory: fixture.directory)
        let refused = try await sluice.run(["run", flow.path, "--runs-dir", fixture.runsDirectory])
        #expect(refused.status == 1, "\(refused.stderr)")
        // `    sql: "SELECT id FROM tracks WHERE '${DB_PASSPHRASE}' <> `: `nosuchcol` at column 61.
        #expect(
            refused.stdout.contains(
                "\(flow.path):9:61: error: stages.query.sql: ERROR 42703: column \"nosuchcol\" does not exist\n"
                    + "LINE 1: SELECT id FROM tracks WHERE '${DB_PASSPHRASE}' <> nosuchcol\n"
                    + String(repeating: " ", count: 58) + "^\n"), "\(refused.stdout)")
        let inBlock = try await sluice.run(["run", block.path, "--runs-dir", fixture.runsDirectory])
        #expect(inBlock.status == 1, "\(inBlock.stderr)")
        #expect(
            inBlock.stdout.contains(
                "\(block.path):12:11: error: stages.query.sql: ERROR 42703: column \"nosuchcol\" does not exist\n"
                    + "LINE 3: AND nosuchcol\n" + String(repeating: " ", count: 12) + "^\n"), "\(inBlock.stdout)")
        #expect(!(refused.stdout + refused.stderr + inBlock.stdout + inBlock.stderr).contains("pass-PHRASE"))
    }
}
