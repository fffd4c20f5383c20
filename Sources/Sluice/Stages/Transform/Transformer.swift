import SluiceCore
import SluicePlan

/// Computes a transform stage's output fields from each input row.
public struct Transformer: Sendable {
    public let settings: TransformSettings
    private var bound: (columns: [String], expressions: [Expression.Bound], output: [String])?

    public init(settings: TransformSettings) { self.settings = settings }

    /// The output batch for `batch`.
    /// - Throws: ``Expression/MissingFieldError`` when an expression reads a field the input lacks.
    public mutating func apply(_ batch: Batch) throws -> Batch {
        if bound?.columns != batch.columns {
            let expressions = try settings.fields.map { try $0.expression.bind(to: batch.columns) }
            var output = settings.fields.map(\.name)
            if settings.keepInput { output += batch.columns.filter { !output.contains($0) } }
            bound = (batch.columns, expressions, output)
        }
        let (_, expressions, output) = bound!
        let kept =
            settings.keepInput
            ? batch.columns.indices.filter { !settings.fields.map(\.name).contains(batch.columns[$0]) } : []
        var rows: [[Value]] = []
        rows.reserveCapacity(batch.count)
        for row in batch.rows {
            var out = expressions.map { $0.evaluate(row) }
            for i in kept { out.append(row[i]) }
            rows.append(out)
        }
        return Batch(columns: output, rows: rows)
    }
}
