import Testing

@testable import SluicePlan

extension PlanLoaderTests {
    static let sideTablePlan = """
        version: 1
        name: musicbrainz
        connections:
          db: { kind: postgres, url: "postgres://localhost/db" }
        stages:
          - kind: query
            connection: db
            sql: SELECT track_id, mbid FROM staging
          - kind: apply
            connection: db
            table: track_musicbrainz
            key: track_id
            mode: upsert
            columns:
              mbid: {}

        """

    @Test func applyModeIsReadAndDefaultsToUpdate() throws {
        #expect(try load(Self.sideTablePlan).stage(named: "apply")?.apply?.mode == .upsert)
        let withoutMode = Self.sideTablePlan.replacingOccurrences(of: "    mode: upsert\n", with: "")
        #expect(try load(withoutMode).stage(named: "apply")?.apply?.mode == .update)
        #expect(
            try load(Self.sideTablePlan, overrides: ["apply.mode=insert"]).stage(named: "apply")?.apply?.mode == .insert
        )
    }

    @Test func aBadApplyModeIsALocatedError() {
        let found = errors(Self.sideTablePlan.replacingOccurrences(of: "mode: upsert", with: "mode: upsrt"))
        #expect(found.count == 1)
        #expect(found.first?.message == "'mode' in stage 'apply' must be one of update, upsert, insert, found 'upsrt'")
        #expect(found.first?.location?.line == 13)
        #expect(found.first?.location?.column == 11)
        #expect(found.first?.notes.first == "did you mean 'upsert'?")
    }
}
