import Foundation
import SluiceCore
import SluicePipeline
import Testing

@testable import Sluice
@testable import SluicePlan

@Suite struct ValidateStageTests {
    static let columns = ["track_id", "spotify_id", "spotify_popularity", "isrc"]
    static let good: [Value] = ["00000000-0000-4000-8000-000000000001", "4uLU6hMCjMI75M1A2tKUQC", 73, "USUM71703861"]
    static let badISRC: [Value] = ["00000000-0000-4000-8000-000000000002", "4uLU6hMCjMI75M1A2tKUQD", 10, "usum7,170"]
    static let tooPopular: [Value] = ["00000000-0000-4000-8000-000000000003", "4uLU6hMCjMI75M1A2tKUQE", 140, .null]
    static let notUUID: [Value] = ["track-4", "4uLU6hMCjMI75M1A2tKUQF", 5, .null]

    @Test func rejectsInvalidRowsIntoTheStageRejectsFile() async throws {
        let stage = try TestPlans.stage("validate", of: try await TestPlans.spotify())
        let harness = try await StageHarness(stage: stage)
        let input = [
            Batch(columns: Self.columns, rows: [Self.good, Self.badISRC]),
            Batch(columns: Self.columns, rows: [Self.tooPopular, Self.notUUID, Self.good]),
        ]
        let out = try await harness.run(stage, input: input)
        #expect(rows(out).count == 2)
        #expect(harness.context.progress.rowsRejected == 3)
        #expect(harness.counters["valid"] == 2)
        #expect(harness.counters["invalid"] == 3)

        let file = try #require(harness.artifacts("rejects").first)
        #expect(file.lastPathComponent == "rejects-validate.csv")
        #expect(try await mode(of: file) == 0o600)
        let lines = try await text(of: file).components(
            separatedBy: "\r\n"
        ).filter { !$0.isEmpty }
        #expect(lines.count == 4)
        #expect(lines[0] == "stage,reason,field,value,detail,row")
        #expect(lines[1].hasPrefix("validate,pattern,isrc,\"usum7,170\","))
        #expect(lines[1].contains("\"\"track_id\"\":\"\"00000000-0000-4000-8000-000000000002\"\""))
        #expect(lines[2].hasPrefix("validate,max,spotify_popularity,140,"))
        #expect(lines[3].hasPrefix("validate,type,track_id,track-4,"))
    }

    /// A run that stops while validate is reading (a later stage failed, or Ctrl-C) keeps the
    /// rows it rejected so far, and its manifest lists the file.
    @Test func theRejectsOfAStageStoppedMidwayAreKeptAndRecorded() async throws {
        let validate = try TestPlans.stage("validate", of: try await TestPlans.spotify())
        let stages = [
            StageSpec(OneBatchThenWait(batch: Batch(columns: Self.columns, rows: [Self.good, Self.badISRC]))),
            StageSpec(validate, input: "rows"), StageSpec(FailingSink(), input: validate.name),
        ]
        let result = try await Runner(
            stages: stages,
            configuration: ApplyReviewTests.configuration(try await StageHarness.makeRunDirectory(), approval: .denied)
        ).run()
        #expect(result.manifest.status == .failed)
        let record = try #require(result.manifest.stage("validate"))
        #expect(record.status != .succeeded)
        let rejects = try #require(record.outputs.first { $0.kind == "rejects" }, "\(record.outputs)")
        #expect(rejects.rows == 1)
        let lines = try await text(of: result.directory.appendingPathComponent(rejects.path)).split(separator: "\r\n")
        #expect(lines.count == 2, "\(lines)")
        #expect(lines.last?.hasPrefix("validate,pattern,isrc,") == true)
    }

    @Test func acceptsEveryValidRowWithoutARejectsFile() async throws {
        let stage = try TestPlans.stage("validate", of: try await TestPlans.spotify())
        let harness = try await StageHarness(stage: stage)
        let out = try await harness.run(stage, input: [Batch(columns: Self.columns, rows: [Self.good, Self.good])])
        #expect(out.map(\.count) == [2])
        #expect(harness.artifacts("rejects").isEmpty)
        #expect(try await harness.files().isEmpty)
    }

    @Test func failModeNamesRowFieldRuleAndValue() async throws {
        let plan = try await TestPlans.spotify(overrides: ["validate.on_invalid=fail"])
        let stage = try TestPlans.stage("validate", of: plan)
        let input = [
            Batch(columns: Self.columns, rows: [Self.good, Self.good]),
            Batch(columns: Self.columns, rows: [Self.good, Self.tooPopular]),
        ]
        let error = await #expect(throws: StageError.self) {
            try await StageHarness(stage: stage).run(stage, input: input)
        }
        let text = error.map(\.description) ?? ""
        // Named by its first field too: a row number alone is no line of a CSV, nor a key.
        #expect(
            text.contains("row 4 (track_id 00000000-0000-4000-8000-000000000003): field spotify_popularity"), "\(text)")
        #expect(text.contains("spotify_popularity"))
        #expect(text.contains("'max'"))
        #expect(text.contains("140"))
    }

    /// A rule for a field the input does not have (misspelt) would reject every row as missing
    /// it, and the run would succeed with nothing: the stage fails, as write-csv does.
    @Test func aRuleForAFieldTheInputLacksStopsTheStage() async throws {
        let stage = try TestPlans.stage("validate", of: try await TestPlans.spotify())
        let columns = Self.columns.map { $0 == "spotify_popularity" ? "spotify_popularty" : $0 }
        let error = await #expect(throws: StageError.self) {
            try await StageHarness(stage: stage).run(stage, input: [Batch(columns: columns, rows: [Self.good])])
        }
        #expect(
            error?.description.contains(
                "the rule for 'spotify_popularity' names a field that is not in the input (it has: track_id, "
                    + "spotify_id, spotify_popularty, isrc); did you mean 'spotify_popularty'?") == true,
            "\(String(describing: error))")
    }
}

/// What a rule accepts, text by text: empty text is empty for `required`, lengths are code
/// points (as a `varchar(n)` counts them), `one_of` matches numbers by value and text code
/// point for code point.
@Suite struct ValidationRuleTests {
    static func failed(_ rule: ValidationRule, _ value: Value) throws -> String? {
        let validator = try RowValidator(stage: "v", settings: ValidateSettings(rules: [rule], onInvalid: .reject))
        return validator.check(Batch(columns: [rule.field], rows: [[value]])).rejected.first?.reason
    }

    static func rule(required: Bool = false, oneOf: [Value]? = nil, maxLength: Int? = nil) -> ValidationRule {
        ValidationRule(
            field: "f", type: .any, required: required, min: nil, max: nil, pattern: nil, oneOf: oneOf,
            maxLength: maxLength)
    }

    @Test func emptyTextIsEmptyForRequired() throws {
        #expect(try Self.failed(Self.rule(required: true), "") == "required")
        #expect(try Self.failed(Self.rule(required: true), .null) == "required")
        #expect(try Self.failed(Self.rule(required: true), "x") == nil)
        #expect(try Self.failed(Self.rule(), "") == nil)
    }

    /// A NUL character, which neither PostgreSQL nor the audit CSV can hold, rejects its row
    /// wherever it is: in a field with no rule, inside an array or an object (a jsonb value).
    @Test func aNULCharacterAnywhereRejectsTheRow() throws {
        let validator = try RowValidator(
            stage: "v", settings: ValidateSettings(rules: [Self.rule()], onInvalid: .reject))
        let rows: [[Value]] = [
            ["ok", "fine"], ["ok", "a\u{0}b"], ["ok", .array(["x", "\u{0}"])], ["ok", .object(["k": "\u{0}"])],
            ["\u{0}", "fine"],
        ]
        let (valid, rejected) = validator.check(Batch(columns: ["f", "title"], rows: rows))
        #expect(valid.rows == [["ok", "fine"]])
        #expect(rejected.map(\.reason) == Array(repeating: "nul_character", count: 4))
        #expect(rejected.map(\.field) == ["title", "title", "title", "f"])
        #expect(rejected.first?.value == "a\\0b")
        #expect(rejected.first?.detail.contains("NUL character") == true)
    }

    /// A whole number an API wrote as 5.0 is no integer to the rule (PostgreSQL's int columns
    /// refuse `5.0` too), but its rejection says how a transform reads it as one.
    @Test func aWholeDoubleUnderAnIntRuleSaysHowToMakeItOne() throws {
        var rule = Self.rule()
        rule.type = .int
        let validator = try RowValidator(stage: "v", settings: ValidateSettings(rules: [rule], onInvalid: .reject))
        let rejected = validator.check(Batch(columns: ["f"], rows: [[.double(5)], [.double(5.5)], ["5"], [7]])).rejected
        #expect(rejected.map(\.reason) == ["type", "type", "type"])
        #expect(rejected[0].detail.contains("is the number 5.0 (int(...) in a transform"), "\(rejected[0].detail)")
        #expect(rejected[1].detail.hasSuffix("should be an integer, is double"), "\(rejected[1].detail)")
        #expect(rejected[2].detail.hasSuffix("should be an integer, is string"), "\(rejected[2].detail)")
    }

    /// Bounds are for numbers: text is read as one (a query's text column), and text that is no
    /// number breaks them instead of passing unchecked.
    @Test func minAndMaxReadTextAsANumberAndRefuseTextThatIsNone() throws {
        let rule = ValidationRule(
            field: "f", type: .any, required: false, min: 0, max: 100, pattern: nil, oneOf: nil, maxLength: nil)
        #expect(try Self.failed(rule, "50") == nil)
        #expect(try Self.failed(rule, "500") == "max")
        #expect(try Self.failed(rule, "-1") == "min")
        #expect(try Self.failed(rule, "abc") == "type")
        #expect(try Self.failed(rule, .bool(true)) == "type")
        #expect(try Self.failed(rule, 7) == nil)
        #expect(try Self.failed(rule, .null) == nil)
    }

    @Test func lengthsAreCodePoints() throws {
        let decomposed = "e\u{301}e\u{301}e\u{301}"  // three é, six code points
        #expect(try Self.failed(Self.rule(maxLength: 5), .string(decomposed)) == "max_length")
        #expect(try Self.failed(Self.rule(maxLength: 6), .string(decomposed)) == nil)
    }

    @Test func oneOfMatchesNumbersByValueAndTextByCodePoints() throws {
        #expect(try Self.failed(Self.rule(oneOf: [1]), .double(1.0)) == nil)
        #expect(try Self.failed(Self.rule(oneOf: [1]), "1") == nil)
        #expect(try Self.failed(Self.rule(oneOf: ["\u{e9}"]), "e\u{301}") == "one_of")
        #expect(try Self.failed(Self.rule(oneOf: ["\u{e9}"]), "\u{e9}") == nil)
    }
}

/// A source that sends one batch, then waits until the run is cancelled.
private struct OneBatchThenWait: Stage {
    var name: String { "rows" }
    var kind: String { "test-rows" }
    var parameters: Value { .object([:]) }
    let batch: Batch

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        try await output.send(batch)
        try await Task.sleep(for: .seconds(3600))
    }
}

/// A stage that fails on the first batch it reads.
private struct FailingSink: Stage {
    var name: String { "sink" }
    var kind: String { "test-sink" }
    var parameters: Value { .object([:]) }

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        for try await _ in input! { throw StageError(stage: name, "refuses every row") }
    }
}
