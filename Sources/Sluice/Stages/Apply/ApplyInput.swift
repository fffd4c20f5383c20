import SluiceCore
import SluicePlan

/// The apply stage's input seen as BulkUpdate wants it: the key field renamed to the key
/// column and each column taken from its `from` field, with the `filled_<column>` tallies
/// counted on the way.
struct ApplyInput<Base: AsyncSequence>: AsyncSequence where Base.Element == Batch {
    typealias Element = Batch
    let base: Base
    let settings: ApplySettings
    let stage: String
    let tally: FilledTally

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let settings: ApplySettings
        let stage: String
        let tally: FilledTally
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
            tally.count(out)
            return out
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), settings: settings, stage: stage, tally: tally)
    }
}

/// Per column, the distinct keys given a non-empty value: what verify compares the table to.
///
/// Keys are kept as a set of strings (a few tens of bytes each), so memory grows with the
/// number of rows applied; fine for tables of millions of rows. Only the apply task touches it.
final class FilledTally {
    private var keys: [Set<String>]

    init(columns: Int) {
        keys = Array(repeating: [], count: columns)
    }

    /// Counts a batch of `[key, column...]` rows.
    func count(_ batch: Batch) {
        for row in batch.rows {
            guard let key = row.first?.text else { continue }
            for column in keys.indices {
                let value = row[column + 1]
                if value.isNull || value == .string("") { continue }
                keys[column].insert(key)
            }
        }
    }

    var counts: [Int] { keys.map(\.count) }
}
