import Foundation
import SluiceCore
import SluicePipeline
import Testing

/// A plan that reads a file (`read-csv`) instead of a query, run by the real binary: no database
/// or API needed.
@Suite struct ReadCSVPlanTests {
    /// A test's own directory and, in it, its input CSV, its plan and its runs directory.
    static func places(_ prefix: String) -> (directory: URL, input: URL, plan: URL, runs: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        return (
            directory, directory.appendingPathComponent("in.csv"), directory.appendingPathComponent("plan.yaml"),
            directory.appendingPathComponent("runs")
        )
    }

    /// A replay from the source stage reads the file again, as it is now; when it is no longer
    /// the file the run recorded, it says so.
    @Test func aReplayOfAChangedSourceFileSaysItReadsItAsItIsNow() async throws {
        let (directory, input, plan, runs) = Self.places("sluice-read")
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

    /// A replay of an unchanged plan file whose variables resolve otherwise in this shell (`TAG`
    /// unset, so its default) runs with the run's values, saying so: the run's are what it
    /// fetched with, reviewed and applied.
    @Test func aReplayKeepsTheValuesTheRunGaveItsVariables() async throws {
        let (directory, input, plan, runs) = Self.places("sluice-variables")
        try await BlockingIO.runOnOwnThread {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data("id,name\n1,a\n".utf8).write(to: input)
            try Data(
                """
                version: 1
                name: copy-${TAG:-A}
                stages:
                  - { name: src, kind: read-csv, path: \(input.path) }
                  - { name: tag, kind: transform, fields: { id: id, tag: "'${TAG:-A}'" } }
                  - { name: out, kind: write-csv, path: "out-{run_id}.csv", columns: [id, tag] }

                """.utf8
            ).write(to: plan)
        }
        let tagged = SluiceProcess(environment: ["NO_COLOR": "1", "TAG": "X"], directory: directory)
        let first = try await tagged.run(["run", plan.path, "--runs-dir", runs.path])
        #expect(first.status == 0, "\(first.stderr)")
        let run = try #require(await Files.runs(in: runs).first)

        let same = try await tagged.run(["replay", run.directory.path, "--from", "tag"])
        #expect(same.status == 0 && !same.stderr.contains("resolves differently"), "\(same.stderr)")

        let untagged = SluiceProcess(environment: ["NO_COLOR": "1"], directory: directory)
        let replay = try await untagged.run(["replay", run.directory.path, "--from", "tag"])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(
            replay.stderr.contains(
                "note: \(plan.path) resolves differently here than when run \(run.manifest.runID) ran it (an "
                    + "environment variable set otherwise?): name was \"copy-X\", is \"copy-A\"; tag.fields.tag "
                    + "was \"'X'\", is \"'A'\"; using the plan as the run recorded it"),
            "\(replay.stderr)")
        let replayed = try #require(await Files.runs(in: runs).last)
        #expect(replayed.manifest.plan.name == "copy-X")
        let written = try await Files.text(
            replayed.directory.appendingPathComponent("out-\(replayed.manifest.runID).csv"))
        #expect(written == "id,tag\r\n1,X\r\n")

        // Given with --set, another value is this command's choice: the note names only the rest.
        let chosen = try await untagged.run([
            "replay", run.directory.path, "--from", "tag", "--set", "tag.fields.tag=\"'B'\"",
        ])
        #expect(chosen.status == 0, "\(chosen.stderr)")
        #expect(chosen.stderr.contains("resolves differently"), "name still differs: \(chosen.stderr)")
        #expect(!chosen.stderr.contains("tag.fields.tag was"), "\(chosen.stderr)")
        let last = try #require(await Files.runs(in: runs).last)
        let chosenCSV = try await Files.text(last.directory.appendingPathComponent("out-\(last.manifest.runID).csv"))
        #expect(chosenCSV == "id,tag\r\n1,B\r\n")
        try await Files.remove(directory)
    }

    /// A replay that ran the plan recorded in a manifest (its file had changed) records that
    /// plan; replaying it reads the record again without calling it missing or changed.
    @Test func aReplayOfARecordedPlanIsNotCalledMissing() async throws {
        let (directory, input, plan, runs) = Self.places("sluice-recorded")
        let text = """
            version: 1
            name: copy
            stages:
              - { name: src, kind: read-csv, path: \(input.path) }
              - { name: out, kind: write-csv, path: "out-{run_id}.csv", columns: [id, name] }

            """
        try await BlockingIO.runOnOwnThread {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data("id,name\n1,a\n".utf8).write(to: input)
            try Data(text.utf8).write(to: plan)
        }
        let sluice = SluiceProcess(environment: ["NO_COLOR": "1"], directory: directory)
        #expect(try await sluice.run(["run", plan.path, "--runs-dir", runs.path]).status == 0)
        try await Files.write(Array((text + "# edited\n").utf8), to: plan)
        let first = try #require(await Files.runs(in: runs).first)
        let replay = try await sluice.run(["replay", first.directory.path, "--from", "out"])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stderr.contains("is missing or changed since run"), "the file changed: \(replay.stderr)")
        let second = try #require(await Files.runs(in: runs).last)
        let again = try await sluice.run(["replay", second.directory.path, "--from", "out"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(!again.stderr.contains("is missing or changed"), "\(again.stderr)")
        try await Files.remove(directory)
    }
}
