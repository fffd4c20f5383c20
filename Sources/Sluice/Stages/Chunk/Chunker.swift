import SluiceCore

/// Regroups rows into batches of exactly `size` (the last may be smaller).
///
/// Pure and incremental: feed batches in, take full batches out, `finish()` at the end.
/// Holds at most `size - 1` rows between calls.
public struct Chunker: Sendable {
    public let size: Int
    private var pending: Batch?

    public init(size: Int) {
        precondition(size > 0)
        self.size = size
    }

    /// Adds `batch` and returns every full batch now available.
    public mutating func add(_ batch: Batch) -> [Batch] {
        guard !batch.isEmpty else { return [] }
        var out: [Batch] = []
        var rows = batch.rows[...]
        if var current = pending {
            if current.columns != batch.columns {
                out.append(current)  // a new shape starts a new batch
                pending = nil
            } else {
                let take = min(size - current.count, rows.count)
                current.rows.append(contentsOf: rows.prefix(take))
                rows = rows.dropFirst(take)
                if current.count == size {
                    out.append(current)
                    pending = nil
                } else {
                    pending = current
                    return out
                }
            }
        }
        while rows.count >= size {
            out.append(Batch(columns: batch.columns, rows: Array(rows.prefix(size))))
            rows = rows.dropFirst(size)
        }
        if !rows.isEmpty { pending = Batch(columns: batch.columns, rows: Array(rows)) }
        return out
    }

    /// The rows still held, as a final smaller batch.
    public mutating func finish() -> Batch? {
        defer { pending = nil }
        return pending
    }
}
