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
}
