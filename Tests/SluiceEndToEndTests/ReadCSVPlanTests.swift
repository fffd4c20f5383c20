import Foundation
import SluiceCore
import SluicePipeline
import Testing

/// A plan that reads a file (`read-csv`) instead of a query, run by the real binary: no database
/// or API needed.
@Suite struct ReadCSVPlanTests {
    /// A replay from the source stage reads the file again, as it is now; when it is no longer
    /// the file the run recorded, it says so.
    @Test func aReplayOfAChangedSourceFileSaysItReadsItAsItIsNow() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sluice-read-\(UUID().uuidString)")
        let (input, plan, runs) = (
            directory.appendingPathComponent("in.csv"), directory.appendingPathComponent("plan.yaml"),
            directory.appendingPathComponent("runs")
        )
        try await BlockingIO.runOnOwnThread {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data("id,name\n1,a\n2,b\n".utf8).write(to: input)
            try Data(
                """
                version: 1
                name: copy
                stages:
                  - { name: src, kind: read-csv, path: \(input.path) }
                  - { name: out, kind: write-csv, path: "\(directory.path)/out-{run_id}.csv", columns: [id, name] }

                """.utf8
            ).write(to: plan)
        }
        let sluice = SluiceProcess(environment: ["NO_COLOR": "1"], directory: directory)
        let first = try await sluice.run(["run", plan.path, "--runs-dir", runs.path])
        #expect(first.status == 0, "\(first.stderr)")
        let run = try #require(await Files.runs(in: runs).first)

        let same = try await sluice.run(["replay", run.directory.path, "--from", "src"])
        #expect(same.status == 0, "\(same.stderr)")
        #expect(!same.stderr.contains("changed since"), "\(same.stderr)")

        try await Files.write(Array("id,name\n1,a\n2,b\n3,c\n".utf8), to: input)
        let changed = try await sluice.run(["replay", run.directory.path, "--from", "src"])
        #expect(changed.status == 0, "\(changed.stderr)")
        #expect(
            changed.stderr.contains(
                "note: \(input.path) changed since run \(run.manifest.runID) read it"),
            "\(changed.stderr)")
        #expect(changed.stderr.contains("stage 'src' reads it as it is now"), "\(changed.stderr)")
        let replayed = try #require(await Files.runs(in: runs).last)
        #expect(replayed.manifest.stage("src")?.rowsOut == 3)
        try await Files.remove(directory)
    }
}
