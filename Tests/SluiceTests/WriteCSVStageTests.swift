import Foundation
import SluiceCore
import Testing

@testable import Sluice

@Suite struct WriteCSVStageTests {
    static let columns = ["isrc", "spotify_popularity", "extra", "track_id", "spotify_id"]

    @Test func writesRFC4180InThePlanColumnOrderAndPassesRowsOn() async throws {
        let stage = try TestPlans.stage("write-csv", of: try TestPlans.spotify())
        let harness = try StageHarness(stage: stage)
        let input = [
            Batch(
                columns: Self.columns,
                rows: [
                    ["USUM71703861", 73, "ignored", "id-1", "plain"],
                    [.null, 0, .null, "id-2", "with,comma"],
                ]),
            Batch(
                columns: Self.columns,
                rows: [
                    ["", .null, .null, "id-3", "say \"hi\""],
                    ["X", 5, .null, "id-4", "two\nlines"],
                ]),
        ]
        let out = try await harness.run(stage, input: input)
        #expect(out == input)

        let file = try #require(harness.artifacts("csv").first)
        #expect(file.lastPathComponent == "spotify_enrichment_20260301_123456.csv")
        #expect(file.deletingLastPathComponent().path == harness.runDirectory.path)
        #expect(try mode(of: file) == 0o600)
        let text = try String(contentsOf: file, encoding: .utf8)
        #expect(
            text == "track_id,spotify_id,spotify_popularity,isrc\r\n"
                + "id-1,plain,73,USUM71703861\r\n"
                + "id-2,\"with,comma\",0,\r\n"
                + "id-3,\"say \"\"hi\"\"\",,\r\n"
                + "id-4,\"two\nlines\",5,X\r\n")
        #expect(harness.counters["csv_rows"] == 4)
        #expect(try harness.files() == [file.lastPathComponent])  // no temporary file left
    }

    @Test func anAbsolutePathIsUsedAsGiven() async throws {
        let directory = try StageHarness.makeRunDirectory()
        let plan = try TestPlans.spotify(overrides: ["write-csv.path=\(directory.path)/out-{run_id}.csv"])
        let stage = try TestPlans.stage("write-csv", of: plan)
        let harness = try StageHarness(stage: stage)
        _ = try await harness.run(
            stage, input: [Batch(columns: ["track_id", "spotify_id", "spotify_popularity", "isrc"])])
        let file = try #require(harness.artifacts("csv").first)
        #expect(file.path == directory.appendingPathComponent("out-test-run.csv").path)
        #expect(try String(contentsOf: file, encoding: .utf8) == "track_id,spotify_id,spotify_popularity,isrc\r\n")
    }

    @Test func aMissingColumnFailsAndLeavesNoFile() async throws {
        let stage = try TestPlans.stage("write-csv", of: try TestPlans.spotify())
        let harness = try StageHarness(stage: stage)
        await #expect(throws: StageError.self) {
            try await harness.run(stage, input: [Batch(columns: ["track_id", "spotify_id"], rows: [["a", "b"]])])
        }
        #expect(try harness.files().isEmpty)
    }
}
