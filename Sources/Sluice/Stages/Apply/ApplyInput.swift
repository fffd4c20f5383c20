import SluiceCore
import SluicePlan

/// The apply stage's input seen as BulkUpdate wants it: the key field renamed to the key
/// column and each column taken from its `from` field.
struct ApplyInput<Base: AsyncSequence>: AsyncSequence where Base.Element == Batch {
    typealias Element = Batch
    let base: Base
    let settings: ApplySettings
    let stage: String

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let settings: ApplySettings
        let stage: String
        var slots: (columns: [String], indices: [Int])?

        mutating func next() async throws -> Batch? {
            guard let batch = try await base.next() else { return nil }
            if slots?.columns != batch.columns {
                let fields = [settings.keyField] + settings.columns.map(\.from)
                let indices = try fields.map { field in
                    guard let index = batch.index(of: field) else {
                        throw StageError(
                            stage: stage,
                            "field '\(field)' is not in the input (it has: \(batch.columns.joined(separator: ", ")))")
                    }
                    return index
                }
                slots = (batch.columns, indices)
            }
            let indices = slots!.indices
            var out = Batch(columns: [settings.key] + settings.columns.map(\.column))
            out.rows = batch.rows.map { row in indices.map { row[$0] } }
            return out
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), settings: settings, stage: stage)
    }
}
