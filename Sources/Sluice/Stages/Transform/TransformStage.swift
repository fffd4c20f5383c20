import SluiceCore
import SluicePipeline
import SluicePlan

/// Computes each output row's fields from the input row with simple expressions
/// (`response.popularity`, `upper(trim(response.external_ids.isrc))`).
public struct TransformStage: Stage {
    public let name: String
    public var kind: String { "transform" }
    public let parameters: Value
    public let settings: TransformSettings
    /// Goes on past a field whose key looks misspelt (`--force`), saying so.
    public var force = false

    public init(name: String, settings: TransformSettings, parameters: Value) {
        self.name = name
        self.settings = settings
        self.parameters = parameters
    }

    public func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        guard let input else { throw StageError(stage: name, "a transform stage needs an input") }
        var transformer = Transformer(settings: settings)
        // Output fields that had a value in some row sent; the rest are said to be empty.
        var filled = Set<String>()
        var sightings = PathSightings(fields: settings.fields)
        var rows = 0
        for try await batch in input {
            sightings.observe(batch, for: settings.fields.map(\.name).filter { !filled.contains($0) })
            let result: Batch
            do {
                result = try transformer.apply(batch)
            } catch let error as SluicePlan.Expression.MissingFieldError {
                // The expression that reads the missing field, so the user knows which line to fix.
                let field = error.field
                let target = settings.fields.first { $0.expression.fields.contains(field) }
                let which = target.map { " (in '\($0.name): \($0.expression)')" } ?? ""
                throw StageError(stage: name, "\(error)\(which)")
            }
            rows += result.count
            for field in settings.fields.map(\.name) where !filled.contains(field) {
                if let column = result.index(of: field), result.rows.contains(where: { !$0[column].isNull }) {
                    filled.insert(field)
                }
            }
            try await output.send(result)
        }
        guard rows > 0 else { return }
        // Said of each field whose key looks misspelt: sent on, such a field reads as "no value"
        // to every later stage, and an apply would clear its column (`on_empty: clear`) in every
        // row, which a review lists as any other change.
        var misspelt: [String] = []
        for (field, expression) in settings.fields where !filled.contains(field) {
            var said = "field '\(field)' was empty in all \(rows) rows (\(field): \(expression))"
            var note = settings.whenEmpty[field].map { " " + $0 } ?? ""
            var looksMisspelt = false
            if let missing = sightings.missingKey(of: field) {
                said += ": no row's \(missing.at) has a key '\(missing.key)'"
                if let nearest = missing.nearest {
                    // A misspelt key, most likely: the plan's note explains a key the answers lack.
                    said += "; did you mean '\(nearest)'?"
                    note = ""
                    looksMisspelt = true
                } else {
                    said += "."
                }
            } else {
                said += "."
            }
            if looksMisspelt, !force {
                misspelt.append(said)
            } else {
                context.notice(said + note + (looksMisspelt ? " (gone on past it: --force)" : ""))
            }
        }
        guard !misspelt.isEmpty else { return }
        throw StageError(
            stage: name,
            misspelt.joined(separator: " ")
                + " Stopped before a later stage takes \(misspelt.count > 1 ? "these fields" : "it") for values the "
                + "answers lack: fix the plan (`sluice resume` with `--set \(name).fields.FIELD=...` goes on with the "
                + "answers kept), or pass --force if the key is right")
    }
}
