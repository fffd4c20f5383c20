import SluiceCore
import Testing

@testable import Sluice

@Suite struct TransformStageTests {
    static let columns = ["track_id", "spotify_id", "response"]

    static func row(_ spotifyID: Value, _ response: Value) -> [Value] {
        ["00000000-0000-4000-8000-000000000001", spotifyID, response]
    }

    @Test func mapsTheSpotifyPlanFields() async throws {
        let stage = try TestPlans.stage("transform", of: try TestPlans.spotify())
        let input = Batch(
            columns: Self.columns,
            rows: [
                Self.row(
                    "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
                    .object(["popularity": 73, "external_ids": .object(["isrc": " us-um7-17-03861 "])])),
                Self.row(
                    "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC?si=x",
                    .object(["popularity": 0, "external_ids": .object([:])])),
                Self.row("4uLU6hMCjMI75M1A2tKUQC", .null),
            ])
        let out = try await StageHarness(stage: stage).run(stage, input: [input])
        #expect(out.first?.columns == ["track_id", "spotify_id", "spotify_popularity", "isrc"])
        let got = rows(out)
        #expect(got.map { $0["spotify_id"] } == Array(repeating: "4uLU6hMCjMI75M1A2tKUQC", count: 3))
        #expect(got.map { $0["spotify_popularity"] } == [73, 0, .null])
        #expect(got.map { $0["isrc"] } == ["USUM71703861", .null, .null])
    }

    @Test func aMissingFieldNamesTheFieldAndTheStage() async throws {
        let stage = try TestPlans.stage("transform", of: try TestPlans.spotify())
        let input = Batch(columns: ["track_id", "spotify_id"], rows: [["x", "y"]])
        let error = await #expect(throws: StageError.self) {
            try await StageHarness(stage: stage).run(stage, input: [input])
        }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("stage 'transform'"))
        #expect(text.contains("'response'"))
    }
}
