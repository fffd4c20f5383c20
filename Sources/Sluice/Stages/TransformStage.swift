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

    public init(name: String, settings: TransformSettings, parameters: Value) {
        self.name = name
        self.settings = settings
        self.parameters = parameters
    }

    public func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        guard let input else { throw StageError(stage: name, "a transform stage needs an input") }
        var transformer = Transformer(settings: settings)
        for try await batch in input {
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
            try await output.send(result)
        }
    }
}
