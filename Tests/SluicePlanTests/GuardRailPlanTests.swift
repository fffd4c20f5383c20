import SluicePlan
import Testing

/// The apply stage's review settings: `on_drift` and the guard-rails, read and checked.
@Suite struct GuardRailPlanTests {
    static let plan = """
        version: 1
        name: guarded
        connections:
          db: { kind: postgres, url: "postgres://localhost/db" }
        stages:
          - kind: read-csv
            path: in.csv
          - kind: apply
            connection: db
            table: tracks
            key: id
            max_changed: 10%
            on_drift: skip
            columns:
              isrc: { on_empty: clear, max_cleared: 3, max_updated: 0.5%, min_coverage: 95% }
              popularity: { on_empty: keep }

        """

    @Test func readsLimitsAsRowsOrPercentages() throws {
        let apply = try #require(try load(Self.plan).stage(named: "apply")?.apply)
        #expect(apply.maxChanged == .percent(10))
        #expect(apply.onDrift == .skip)
        #expect(apply.columns[0].maxCleared == .rows(3))
        #expect(apply.columns[0].maxUpdated == .percent(0.5))
        #expect(apply.columns[0].minCoverage == 95)
        #expect(apply.columns[1].maxCleared == nil && apply.columns[1].minCoverage == nil)
        // Statistics are refreshed after a large apply unless the plan says not to.
        #expect(apply.analyze)
        let without = try #require(try load(Self.plan, overrides: ["apply.analyze=false"]).stage(named: "apply")?.apply)
        #expect(!without.analyze)
    }

    /// Columns listed where each takes its settings: the error shows the mapping with defaults.
    @Test func columnsGivenAsAListAreShownAsTheMappingTheyCouldBe() {
        let plan = Self.plan.replacingOccurrences(
            of: "isrc: { on_empty: clear, max_cleared: 3, max_updated: 0.5%, min_coverage: 95% }\n"
                + "      popularity: { on_empty: keep }",
            with: "[isrc, popularity]")
        let found = errors(plan)
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.message.contains("must be a mapping (key: value lines), found a list") == true)
        #expect(found.first?.notes == ["name each one as a key: {isrc: {}, popularity: {}}"], "\(found)")
        #expect(found.first?.location?.line == 15, "\(found)")
    }

    /// An upsert or an insert adds the keys it does not find: a limit on them is refused where
    /// it is set, pointing at the one that limits what is added.
    @Test(arguments: ["upsert", "insert"])
    func maxUnknownIsForAnUpdateOnly(mode: String) {
        let found = errors(Self.plan, overrides: ["apply.mode=\(mode)", "apply.max_unknown=1%"])
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.message.contains("with mode: \(mode) those keys are inserted") == true, "\(found)")
        #expect(found.first?.notes.contains { $0.contains("max_changed") } == true, "\(found)")
        #expect(found.first?.location?.source.name == "--set", "\(found)")
        #expect(errors(Self.plan, overrides: ["apply.max_unknown=1%"]).isEmpty)
    }

    @Test(arguments: [
        ("apply.max_changed=ten", "number or percentage"),
        ("apply.max_changed=120%", "is 120%, past 100%: a percentage is from 0% to 100%"),
        ("apply.columns.isrc.min_coverage=101%", "percentage"),
        ("apply.on_drift=ignore", "fail, skip"),
        ("apply.analyze=sometimes", "true or false"),
        ("apply.max_unknown=5 keys", "number or percentage"),
        ("apply.max_unknown=101%", "past 100%"),
    ])
    func refusesAnInvalidLimitAtItsLocation(override: String, expected: String) {
        let found = errors(Self.plan, overrides: [override])
        #expect(found.count == 1)
        #expect(found.first?.message.contains(expected) == true, "\(found)")
        #expect(found.first?.location?.source.name == "--set", "\(found)")
    }

    /// A coverage without its sign is refused, not read as a percentage: `0.95` would have been
    /// 0.95%, a guard-rail that never trips, when 95% was meant.
    @Test(arguments: [
        ("0.95", "write it with its sign: 95% or 0.95%"), ("95", "write it with its sign: 95%"),
        ("150", "write a percentage from 0% to 100%"),
    ])
    func aCoverageWithoutItsPercentSignIsRefused(value: String, note: String) {
        let found = errors(Self.plan, overrides: ["apply.columns.isrc.min_coverage=\(value)"])
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.message.contains("must be a percentage, found '\(value)'") == true, "\(found)")
        #expect(found.first?.notes.contains(note) == true, "\(found)")
        #expect(errors(Self.plan, overrides: ["apply.columns.isrc.min_coverage=95%"]).isEmpty)
    }
}
