import Foundation
import Testing

/// A CI that lints plans has no production credentials: `sluice check` and `sluice graph` work
/// without the plan's secrets and connection variables, saying what the run will need; `check
/// --strict` and `run` still refuse.
@Suite struct CheckWithoutCredentialsTests {
    /// The test's environment without any variable the Spotify plan reads.
    static var bareEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for name in [
            "DATABASE_URL", "SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "SPOTIFY_API_URL", "SPOTIFY_TOKEN_URL",
        ] {
            environment[name] = nil
        }
        environment["NO_COLOR"] = "1"
        return environment
    }

    static let sluice = SluiceProcess(
        environment: bareEnvironment, directory: FileManager.default.temporaryDirectory)

    @Test func checkPassesWarningOfEachVariableTheRunNeeds() async throws {
        let outcome = try await Self.sluice.run(["check", "plans/spotify-enrichment.yaml"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("plans/spotify-enrichment.yaml: ok"), "\(outcome.stdout)")
        for name in ["DATABASE_URL", "SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"] {
            #expect(
                outcome.stderr.contains("warning: environment variable '\(name)' is not set: set it at run time"),
                "\(outcome.stderr)")
        }
        // Defaults fill the rest: nothing to warn about.
        #expect(!outcome.stderr.contains("SPOTIFY_API_URL"))
        #expect(!outcome.stderr.contains("error:"))
    }

    @Test func checkStillReportsEveryOtherProblemAsAnError() async throws {
        let outcome = try await Self.sluice.run([
            "check", "plans/spotify-enrichment.yaml", "--set", "chunk.size=0",
        ])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("error:") && outcome.stderr.contains("chunk"), "\(outcome.stderr)")
    }

    @Test func strictCheckAndRunRefuseAnUnsetVariable() async throws {
        let strict = try await Self.sluice.run(["check", "--strict", "plans/spotify-enrichment.yaml"])
        #expect(strict.status == 2)
        #expect(
            strict.stderr.contains("error: environment variable 'DATABASE_URL' is not set and has no default"),
            "\(strict.stderr)")
        let run = try await Self.sluice.run(["run", "plans/spotify-enrichment.yaml", "--runs-dir", "/nonexistent"])
        #expect(run.status == 2)
        #expect(run.stderr.contains("error: environment variable 'SPOTIFY_CLIENT_SECRET' is not set"), "\(run.stderr)")
    }

    /// `apply` needs only the database's variable: with none set, it names DATABASE_URL alone,
    /// not the API's credentials, which it would not use.
    @Test func applyWithNoVariableSetNamesOnlyTheDatabases() async throws {
        let csv = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-bare-\(UUID().uuidString).csv")
        try await Files.write(Array("track_id,spotify_popularity,isrc\n".utf8), to: csv)
        let outcome = try await Self.sluice.run([
            "apply", "plans/spotify-enrichment.yaml", csv.path, "--runs-dir", "/nonexistent",
        ])
        try await Files.remove(csv)
        #expect(outcome.status == 2)
        #expect(
            outcome.stderr.contains("error: environment variable 'DATABASE_URL' is not set and has no default"),
            "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("SPOTIFY_CLIENT"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("1 error"), "\(outcome.stderr)")
    }

    @Test func graphNeedsNoCredentials() async throws {
        let outcome = try await Self.sluice.run(["graph", "plans/spotify-enrichment.yaml"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("fetch"))
    }
}
