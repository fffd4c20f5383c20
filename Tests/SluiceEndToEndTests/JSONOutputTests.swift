import Foundation
import SluiceCore
import Testing

/// `--json` for scripts: a run, `runs` and `runs show` print JSON on stdout, nothing else, with
/// the run's directory and the exit code it exits with; the manifest is the one on disk.
@Suite struct JSONOutputTests {
    static func json(_ outcome: SluiceProcess.Outcome) throws -> Value {
        try JSON.decode(Array(outcome.stdout.utf8))
    }

    @Test func runsPrintThemselvesAsJSON() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 50)
        defer { Task { await fixture.tearDown() } }

        // Stopped at its gate.
        let gated = try await fixture.run(["--json"])
        #expect(gated.status == 3, "\(gated.stderr)")
        let stopped = try Self.json(gated)
        #expect(stopped["exit_code"] == .int(3))
        #expect(stopped["state"] == "awaiting-approval")
        #expect(stopped["manifest"]["status"] == "awaiting-approval")
        let runID = try #require(stopped["manifest"]["run_id"].stringValue)
        let directory = try #require(stopped["directory"].stringValue)
        #expect(directory.hasPrefix("/") && directory.hasSuffix("/runs/\(runID)"), "\(directory)")

        // Approved by the replay, which prints its own run.
        let approved = try await fixture.sluice.run(["replay", directory, "--from", "apply", "--yes", "--json"])
        #expect(approved.status == 0, "\(approved.stderr)")
        let done = try Self.json(approved)
        #expect(done["exit_code"] == .int(0))
        #expect(done["manifest"]["replay_of"]["run_id"] == .string(runID))
        let replayID = try #require(done["manifest"]["run_id"].stringValue)

        // The list, oldest first, and one run shown: the manifest on disk is the one printed.
        let listed = try Self.json(
            try await fixture.sluice.run(["runs", "--json", "--runs-dir", fixture.runsDirectory]))
        guard case .array(let runs) = listed else { throw JSONOutputError.notAList(listed) }
        #expect(runs.map { $0["run_id"] } == [.string(runID), .string(replayID)])
        #expect(runs[0]["continued_by"] == .string(replayID))
        #expect(runs[0]["exit_code"] == .int(3))
        #expect(runs[1]["replay_of"] == .string(runID))
        #expect(runs[1]["command"] == "replay")
        #expect(runs[1]["directory"] == done["directory"])
        let shown = try Self.json(
            try await fixture.sluice.run(["runs", "show", replayID, "--runs-dir", fixture.runsDirectory, "--json"]))
        #expect(shown == done)
    }

    @Test func anEmptyRunsDirectoryIsAnEmptyList() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-json-\(UUID())")
        try await BlockingIO.runOnOwnThread {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        defer { Task { try? await Files.remove(directory) } }
        let sluice = SluiceProcess(environment: ["NO_COLOR": "1"], directory: directory)
        let outcome = try await sluice.run(["runs", "--json", "--runs-dir", directory.path])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(try Self.json(outcome) == .array([]))
    }

    enum JSONOutputError: Error { case notAList(Value) }
}
