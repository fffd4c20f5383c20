import SluiceCore
import SluicePostgres

extension BulkUpdate {
    /// The label of the column of a stored-values batch holding what `column` holds after the
    /// write (``storedColumns``).
    public static func storedColumn(_ column: String) -> String { "stored:\(column)" }

    /// The columns of the batches `undo` receives, after every prior value, for the rows a
    /// trigger made hold other values than this update wrote: the key, then what each column
    /// holds. Those are the values its undo must expect instead of the ones written
    /// (``BulkUpdateStats/alteredByTrigger``).
    public var storedColumns: [String] { [key] + columns.map { Self.storedColumn($0.name) } }

    /// The row-level BEFORE triggers the write fires (``SQL/writeTriggers``), which may store
    /// other values than those written, by name. One catalog lookup, so a table without one
    /// (the usual case) pays nothing more.
    func writeTriggers(_ sql: SQL, on connection: PostgresConnection) async throws -> [String] {
        try await connection.execute(sql.writeTriggers).rows.compactMap { $0.first?.stringValue }
    }

    /// After the writes, before COMMIT: refuses a write a trigger made land on other rows than
    /// meant (``SQL/redirectedRows``); hands the rows an upsert or insert added to `undo` as
    /// they were stored (``undoColumns``, flagged inserted: under the key the trigger left them,
    /// and none it kept out); then finds the rows whose stored values differ from those
    /// written (a trigger changed them), counts them and their cells into `stats` with a few
    /// samples, and hands what they hold to `undo` (``storedColumns``). Without this an undo
    /// would find every such cell "changed since" and never restore it, however often it ran.
    ///
    /// - Returns: the rows added.
    /// - Throws: ``BulkUpdateError/Reason/triggerRedirected``.
    func readBack(
        _ sql: SQL, on connection: PostgresConnection, into stats: inout BulkUpdateStats,
        undo: (Batch) async throws -> Void
    ) async throws -> Int {
        let redirected = try await connection.execute(sql.redirectedRows).rows
        if let first = redirected.first {
            throw BulkUpdateError(
                triggerRedirected: redirected.compactMap { $0.first?.text }, count: Int(first.last?.intValue ?? 0),
                table: table, key: key, triggers: sql.triggers, isUndo: guarded)
        }
        var added = 0
        if mode != .update {
            let undoColumns = undoColumns
            let noPrior = [Value](repeating: .null, count: self.columns.count)
            _ = try await connection.stream(sql.addedRows, batchSize: undoBatchSize) { batch in
                let rows = batch.rows.map { row in [row[0]] + noPrior + row.dropFirst() + [.bool(true)] }
                added += rows.count
                try await undo(Batch(columns: undoColumns, rows: rows))
            }
            if added > 0, !sql.unwritten.isEmpty, let counts = try await connection.execute(sql.filledAdded).rows.first
            {
                stats.rowsFilledByTrigger = Int(counts.first?.intValue ?? 0)
                stats.columnsFilledByTrigger = zip(sql.unwrittenNames, counts.dropFirst()).compactMap { name, count in
                    (count.intValue ?? 0) > 0 ? name : nil
                }
            }
        }
        let columns = storedColumns
        let names = self.columns.map(\.name)
        let width = names.count
        let sampleLimit = sampleLimit
        _ = try await connection.stream(sql.storedRows, batchSize: undoBatchSize) { batch in
            var stored: [[Value]] = []
            for row in batch.rows {
                stored.append(Array(row.prefix(1 + width)))
                stats.rowsAlteredByTrigger += 1
                for index in 0..<width where row[1 + 2 * width + index] == .bool(true) {
                    stats.alteredByTrigger += 1
                    if stats.alteredByTriggerSamples.count < sampleLimit {
                        let shown = ReviewCells.named(
                            [row[0].text, row[1 + width + index].text, row[1 + index].text], comparing: [(1, 2)])
                        stats.alteredByTriggerSamples.append("\(shown[0]) \(names[index]) \(shown[1]) -> \(shown[2])")
                    }
                }
            }
            if !stored.isEmpty { try await undo(Batch(columns: columns, rows: stored)) }
        }
        if stats.alteredByTrigger > 0 {
            connection.logger.warning(
                "a trigger stored other values than the apply wrote",
                metadata: [
                    "db.table": "\(table)", "apply.altered_by_trigger": "\(stats.alteredByTrigger)",
                    "apply.rows_altered_by_trigger": "\(stats.rowsAlteredByTrigger)",
                ])
        }
        return added
    }
}
