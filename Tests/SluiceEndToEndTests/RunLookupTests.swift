import Foundation
import Testing

/// A run named on the command line that is not there: every command that takes one says so
/// (not that a manifest could not be read) with the usage error's exit code, and `runs` tells
/// an empty runs directory from a missing one.
@Suite struct RunLookupTests {
    static let sluice = SluiceProcess(environment: ["NO_COLOR": "1"], directory: FileManager.default.temporaryDirectory)

    @Test(arguments: [
        ["runs", "show", "no-such-run"], ["replay", "no-such-run", "--stage", "apply"], ["resume", "no-such-run"],
        ["review", "no-such-run"], ["undo", "no-such-run"],
    ])
    func aRunThatIsNotThereIsSaidToBeMissing(arguments: [String]) async throws {
        let outcome = try await Self.sluice.run(arguments)
        #expect(outcome.status == 64, "a usage error, not a failed run: \(outcome.stderr)")
        #expect(
            outcome.stderr.contains("error: no run 'no-such-run': not a run directory, and not a run id in runs/"),
            "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("manifest"), "\(outcome.stderr)")
    }

    @Test func aRunsDirectoryThatIsNotThereIsAnError() async throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-no-such-runs-\(UUID())")
        for json in [false, true] {
            let outcome = try await Self.sluice.run(["runs", "--runs-dir", missing.path] + (json ? ["--json"] : []))
            #expect(outcome.status == 1, "\(outcome.stderr)")
            #expect(outcome.stderr.contains("error: no runs directory \(missing.path)/"), "\(outcome.stderr)")
            #expect(outcome.stdout.isEmpty)
        }
    }

    /// `sluice apply --stage NAME` for a stage that is not an apply stage of the plan is a usage
    /// error, as a replay's `--stage` is.
    @Test func anApplyStageThePlanDoesNotHaveIsAUsageError() async throws {
        let csv = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-stage-\(UUID()).csv")
        try await Files.write(Array("track_id,spotify_popularity,isrc\n".utf8), to: csv)
        defer { Task { try? await Files.remove(csv) } }
        let sluice = SluiceProcess(
            environment: [
                "NO_COLOR": "1", "DATABASE_URL": "postgresql://127.0.0.1:1/none", "SPOTIFY_CLIENT_ID": "id",
                "SPOTIFY_CLIENT_SECRET": "secret-1234",
            ],
            directory: FileManager.default.temporaryDirectory)
        let plan = SluiceProcess.root.appendingPathComponent("plans/spotify-enrichment.yaml").path
        let outcome = try await sluice.run([
            "apply", plan, csv.path, "--stage", "nosuch", "--runs-dir",
            FileManager.default.temporaryDirectory.appendingPathComponent("sluice-stage-runs-\(UUID())").path,
        ])
        #expect(outcome.status == 64, "\(outcome.stderr)")
        #expect(outcome.stderr.contains("is not an apply stage of the plan (apply stages: apply)"), "\(outcome.stderr)")
    }

    /// The argument parser's usage errors read like every other error sluice prints
    /// (`error: ...`, not its own `Error: ...`), and still exit 64; help still goes to stdout.
    @Test func usageErrorsReadLikeEveryOtherError() async throws {
        let sluice = SluiceProcess(environment: ["NO_COLOR": "1"], directory: FileManager.default.temporaryDirectory)
        let missing = try await sluice.run(["run"])
        #expect(missing.status == 64, "\(missing.stderr)")
        #expect(missing.stderr.hasPrefix("error: Missing expected argument '<plan>'"), "\(missing.stderr)")
        let unknown = try await sluice.run(["runs", "--bogus"])
        #expect(unknown.status == 64, "\(unknown.stderr)")
        #expect(unknown.stderr.hasPrefix("error: Unknown option '--bogus'"), "\(unknown.stderr)")
        let help = try await sluice.run(["undo", "--help"])
        #expect(help.status == 0 && help.stdout.hasPrefix("OVERVIEW: ") && help.stderr.isEmpty, "\(help.stderr)")
    }
}
