import Foundation
import SluiceCore
import Testing

/// A secret variable written into a query's SQL (`pgp_sym_decrypt(col, '${DB_PASSPHRASE}')`)
/// comes back in what PostgreSQL says about a failing statement (`LINE 1: ...`) and in the
/// statements a trace log prints: neither shows it, on the terminal or in the run's files.
@Suite struct SecretInSQLTests {
    @Test func aSecretInSQLIsNeverShown() async throws {
        let passphrase = "pass-PHRASE-7731"
        let fixture = try await EnrichmentFixture.make(tracks: 5)
        defer { Task { await fixture.tearDown() } }
        let plan = try await fixture.queryPlan(
            named: "secret-sql", sql: "sql: SELECT id FROM tracks WHERE md5x('${ENCRYPTION_PASSPHRASE}') IS NULL")
        var environment = fixture.sluice.environment
        environment["ENCRYPTION_PASSPHRASE"] = passphrase
        let sluice = SluiceProcess(environment: environment, directory: fixture.directory)
        let failed = try await sluice.run(
            ["run", plan.path, "--runs-dir", fixture.runsDirectory, "--log-level", "trace"])
        #expect(failed.status == 1, "\(failed.stderr)")
        let said = failed.stdout + failed.stderr
        #expect(said.contains("md5x"), "PostgreSQL's message is shown: \(said)")
        #expect(!said.contains(passphrase), "\(said)")
        let run = try #require(await fixture.manifests().first)
        let shown = try await sluice.run(["runs", "show", run.directory.path])
        #expect(!(shown.stdout + shown.stderr).contains(passphrase))
        for file in try await Files.everyFile(under: URL(fileURLWithPath: fixture.runsDirectory)) {
            #expect(!file.text.contains(passphrase), "\(file.url.path)")
        }
    }

    /// A query that returns a secret variable's value (`SELECT 'x' || '${MY_TOKEN}'`) fails at the
    /// SQL's place in the plan, naming the variable, before any row holding it is written; one that
    /// uses it where it stays in the database (`WHERE`) runs.
    @Test func aQueryReturningASecretIsRefused() async throws {
        let token = "tok-VALUE-5521"
        let fixture = try await EnrichmentFixture.make(tracks: 5)
        defer { Task { await fixture.tearDown() } }
        var environment = fixture.sluice.environment
        environment["MY_TOKEN"] = token
        let sluice = SluiceProcess(environment: environment, directory: fixture.directory)
        let returning = try await fixture.queryPlan(
            named: "secret-returned", sql: "sql: SELECT id::text || '${MY_TOKEN}' AS id FROM tracks")
        let failed = try await sluice.run(["run", returning.path, "--runs-dir", fixture.runsDirectory])
        #expect(failed.status == 1, "\(failed.stderr)")
        #expect(
            (failed.stdout + failed.stderr).contains(
                "secret-returned.yaml:9:10: error: stages.query.sql: the query returns the value of ${MY_TOKEN}, "
                    + "a secret its SQL is written with, in column 'id'"), "\(failed.stdout)")
        #expect(!(failed.stdout + failed.stderr).contains(token))
        for file in try await Files.everyFile(under: URL(fileURLWithPath: fixture.runsDirectory)) {
            #expect(!file.text.contains(token), "\(file.url.path)")
        }
        let filtering = try await fixture.queryPlan(
            named: "secret-filter", sql: "sql: SELECT id FROM tracks WHERE '${MY_TOKEN}' <> ''")
        let ran = try await sluice.run(["run", filtering.path, "--runs-dir", fixture.runsDirectory])
        #expect(ran.status == 0, "\(ran.stderr)")
    }
}
