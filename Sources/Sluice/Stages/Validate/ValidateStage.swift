import SluiceCore
import SluicePipeline
import SluicePlan

/// Checks rows against the plan's rules: invalid rows go to `rejects-<stage>.csv` with the
/// rule they broke (`on_invalid: reject`), or stop the run naming the row (`fail`).
public struct ValidateStage: Stage {
    public let name: String
    public var kind: String { "validate" }
    public let parameters: Value
    public let settings: ValidateSettings

    public init(name: String, settings: ValidateSettings, parameters: Value) {
        self.name = name
        self.settings = settings
        self.parameters = parameters
    }

    public func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        guard let input else { throw StageError(stage: name, "a validate stage needs an input") }
        let validator: RowValidator
        do {
            validator = try RowValidator(stage: name, settings: settings)
        } catch {
            throw StageError(stage: name, "a pattern does not compile: \(error)")
        }
        let rejects = RejectsFile(runDirectory: context.runDirectory, stage: name)
        var seen = 0
        var valid = 0
        do {
            for try await batch in input {
                // A rule for a field the input does not have would reject every row as missing it:
                // a misspelt field, said as write-csv says it.
                if seen == 0, let rule = settings.rules.first(where: { batch.index(of: $0.field) == nil }) {
                    let meant = Suggestion.nearest(to: rule.field, in: batch.columns).map { "; did you mean '\($0)'?" }
                    throw StageError(
                        stage: name,
                        "the rule for '\(rule.field)' names a field that is not in the input (it has: "
                            + batch.columns.joined(separator: ", ") + ")" + (meant ?? ""))
                }
                let (good, rejected) = validator.check(batch)
                if settings.onInvalid == .fail, let first = rejected.first {
                    let row = seen + 1 + (batch.rows.firstIndex { Self.object(batch.columns, $0) == first.row } ?? 0)
                    throw StageError(stage: name, Self.describe(first, row: row, columns: batch.columns))
                }
                try await rejects.write(rejected, context: context)
                seen += batch.count
                valid += good.count
                for rejection in rejected { context.counters.add("rejected_\(rejection.reason)") }
                if !good.isEmpty { try await output.send(good) }
            }
            try await rejects.finish(context: context)
        } catch {
            await rejects.abandon(context: context)
            throw error
        }
        context.counters.set("valid", valid)
        context.counters.set("invalid", seen - valid)
    }

    /// "row 12 (track_id 7f3...): field isrc breaks rule pattern (value 'abc'): isrc 'abc' does not
    /// match ...": the row counted from the stage's first, and named by its first field (a query's
    /// key, most often), unless that is the field that broke the rule.
    static func describe(_ rejection: Rejection, row: Int, columns: [String]) -> String {
        let value = rejection.value.map { "'\($0.prefix(80))'" } ?? "empty"
        var named = ""
        if let first = columns.first, first != rejection.field, let text = rejection.row[first]?.text,
            !text.isEmpty
        {
            named = " (\(first) \(RowChecker.keyList([String(text.prefix(80))])))"
        }
        return "row \(row)\(named): field \(rejection.field ?? "?") breaks rule '\(rejection.reason)' (value "
            + "\(value)): \(rejection.detail)"
    }

    static func object(_ columns: [String], _ row: [Value]) -> [String: Value] {
        Dictionary(zip(columns, row), uniquingKeysWith: { first, _ in first })
    }
}
