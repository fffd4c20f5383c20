import SluiceCore
import SluicePlan

/// The apply stage's input seen as BulkUpdate wants it: the key field renamed to the key
/// column and each column taken from its `from` field.
struct ApplyInput<Base: AsyncSequence>: AsyncSequence where Base.Element == Batch {
    typealias Element = Batch
    let base: Base
    let settings: ApplySettings
    let stage: String
    /// Called once, before the first row is asked for (``ApplyStage/StreamedState/willRead``).
    var willRead: (@Sendable () -> Void)?

    init(base: Base, settings: ApplySettings, stage: String) {
        self.base = base
        self.settings = settings
        self.stage = stage
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let settings: ApplySettings
        let stage: String
        var willRead: (@Sendable () -> Void)?
        /// For the columns of the batches being read: where each field apply reads is, and the
        /// same columns renamed for apply when every field is read once (``renamed(_:as:)``).
        var slots: (columns: [String], indices: [Int], renamed: [String]?)?
        /// The table's names for what apply reads: the key column, then each column.
        var names: [String] { [settings.key] + settings.columns.map(\.column) }

        mutating func next() async throws -> Batch? {
            if let willRead {
                self.willRead = nil
                willRead()
            }
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
                slots = (batch.columns, indices, Self.renamed(batch.columns, as: zip(indices, names)))
            }
            let (_, indices, renamed) = slots!
            // The rows as they are, under apply's names: no row is copied.
            if let renamed { return Batch(columns: renamed, rows: batch.rows) }
            var out = Batch(columns: names)
            out.rows = batch.rows.map { row in indices.map { row[$0] } }
            return out
        }

        /// `columns` with the field at each index given apply's name for it, and every other
        /// field a name no table column can have (a NUL, which PostgreSQL refuses in a name);
        /// `nil` when a field is read twice, which needs each row copied.
        static func renamed(_ columns: [String], as names: some Sequence<(Int, String)>) -> [String]? {
            var renamed = columns.map { "\u{0}" + $0 }
            var taken = Set<Int>()
            for (index, name) in names {
                guard taken.insert(index).inserted else { return nil }
                renamed[index] = name
            }
            return renamed
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), settings: settings, stage: stage, willRead: willRead)
    }
}
