import SluiceCore
import SluicePlan
import Testing

@testable import Sluice

@Suite struct TransformStageTests {
    static let columns = ["track_id", "spotify_id", "response"]

    static func row(_ spotifyID: Value, _ response: Value) -> [Value] {
        ["00000000-0000-4000-8000-000000000001", spotifyID, response]
    }

    @Test func mapsTheSpotifyPlanFields() async throws {
        let stage = try TestPlans.stage("transform", of: try await TestPlans.spotify())
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
        let stage = try TestPlans.stage("transform", of: try await TestPlans.spotify())
        let input = Batch(columns: ["track_id", "spotify_id"], rows: [["x", "y"]])
        let error = await #expect(throws: StageError.self) {
            try await StageHarness(stage: stage).run(stage, input: [input])
        }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("stage 'transform'"))
        #expect(text.contains("'response'"))
    }

    /// A field no answer filled is said once, with the expression that computed it and the
    /// plan's own note for it; a field filled in some row is not mentioned.
    @Test func aFieldEmptyInEveryRowIsSaidWithThePlansNote() async throws {
        let stage = try TestPlans.stage("transform", of: try await TestPlans.spotify())
        let harness = try await StageHarness(stage: stage)
        let noPopularity: Value = .object(["external_ids": .object(["isrc": "USUM71703861"])])
        let input = Batch(columns: Self.columns, rows: [Self.row("4uLU6hMCjMI75M1A2tKUQC", noPopularity)])
        _ = try await harness.run(stage, input: [input, input])
        #expect(harness.notices.count == 1, "\(harness.notices)")
        let notice = try #require(harness.notices.first)
        #expect(
            notice.hasPrefix(
                "transform: field 'spotify_popularity' was empty in all 2 rows (spotify_popularity: response.popularity): "
                    + "no row's response has a key 'popularity'. Spotify leaves popularity out"), "\(notice)")
        #expect(notice.contains("Development Mode"), "the plan's when_empty note")
    }

    /// A field read from a misspelt key is told from one the answers lack: the stage suggests
    /// the key they have, leaves out the plan's note (which explains another cause), and fails,
    /// since every later stage would take the field for values the answers lack (an apply would
    /// clear the column); `--force` goes on, saying so.
    @Test func aFieldEmptyBecauseItsKeyIsMisspeltSuggestsTheKeyTheRowsHaveAndStops() async throws {
        let plan = try await TestPlans.spotify(overrides: ["transform.fields.spotify_popularity=response.populraity"])
        var stage = try #require(try TestPlans.stage("transform", of: plan) as? TransformStage)
        let answer: Value = .object(["popularity": 73, "external_ids": .object(["isrc": "USUM71703861"])])
        let input = Batch(
            columns: Self.columns, rows: [Self.row("4uLU6hMCjMI75M1A2tKUQC", .null), Self.row("x", answer)])
        let said =
            "field 'spotify_popularity' was empty in all 2 rows (spotify_popularity: "
            + "response.populraity): no row's response has a key 'populraity'; did you mean 'popularity'?"
        let harness = try await StageHarness(stage: stage)
        let error = await #expect(throws: StageError.self) { _ = try await harness.run(stage, input: [input]) }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains(said + " Stopped before a later stage takes it"), "\(text)")
        #expect(text.contains("--set transform.fields.FIELD=") && text.contains("--force"), "\(text)")
        #expect(harness.notices.isEmpty, "\(harness.notices)")

        stage.force = true
        let forced = try await StageHarness(stage: stage)
        let sent = try await forced.run(stage, input: [input])
        #expect(sent.map(\.count).reduce(0, +) == 2)
        #expect(forced.notices == ["transform: " + said + " (gone on past it: --force)"], "\(forced.notices)")
    }

    /// A key the stage reads in another field is no misspelling: answers that carry `dec` and never
    /// `dec2`, read by two fields, are sparse (the stage stopped, suggesting 'dec', and only
    /// `--force` went on, lifting the apply's guard-rails too).
    @Test func aKeyAnotherFieldReadsIsNotSuggestedForAMissingOne() async throws {
        let plan = try await TestPlans.spotify(overrides: [
            "transform.fields.spotify_popularity=response.dec", "transform.fields.isrc=response.dec2",
        ])
        let stage = try TestPlans.stage("transform", of: plan)
        let harness = try await StageHarness(stage: stage)
        let input = Batch(columns: Self.columns, rows: [Self.row("4uLU6hMCjMI75M1A2tKUQC", .object(["dec": 1]))])
        let sent = try await harness.run(stage, input: [input])
        #expect(sent.map(\.count).reduce(0, +) == 1)
        #expect(
            harness.notices == [
                "transform: field 'isrc' was empty in all 1 rows (isrc: response.dec2): no row's response has a key 'dec2'."
            ],
            "\(harness.notices)")
    }

    /// A key that is there but null in every row is not said to be missing; one a nested path
    /// stops at is named where it stopped.
    @Test func aKeyThatIsThereButNullIsNotSaidToBeMissing() async throws {
        let stage = try TestPlans.stage("transform", of: try await TestPlans.spotify())
        let harness = try await StageHarness(stage: stage)
        let answer: Value = .object(["popularity": .null, "external_ids": .object(["upc": "123"])])
        let input = Batch(columns: Self.columns, rows: [Self.row("4uLU6hMCjMI75M1A2tKUQC", answer)])
        _ = try await harness.run(stage, input: [input])
        let popularity = try #require(harness.notices.first { $0.contains("'spotify_popularity'") })
        #expect(!popularity.contains("no row's"), "\(popularity)")
        let isrc = try #require(harness.notices.first { $0.contains("field 'isrc'") })
        #expect(isrc.contains("no row's response.external_ids has a key 'isrc'."), "\(isrc)")
    }

    @Test func whenEmptyMustNameAnOutputField() throws {
        let plan = """
            version: 1
            name: t
            connections:
              db: { kind: postgres, url: "postgresql://127.0.0.1/x" }
            stages:
              - { kind: query, connection: db, sql: "SELECT 1 AS a" }
              - kind: transform
                fields: { popularity: a }
                when_empty: { popularty: "never filled" }
            """
        let error = #expect(throws: PlanError.self) { try TestPlans.load(plan) }
        let text = error?.errors.map(\.description).joined(separator: "\n") ?? ""
        #expect(text.contains("test.yaml:9:"), "\(text)")
        #expect(text.contains("when_empty names 'popularty', which is not one of this stage's fields"), "\(text)")
    }
}
