import SluiceCore
import SluicePostgres
import Synchronization

extension BulkUpdate {
    /// What ``copyAhead(_:into:on:rows:keys:spool:beside:stats:reader:undo:)`` did.
    enum CopiedAhead {
        /// The whole input is in the input table (and the spool), nothing is written yet: the
        /// update goes on as for any input. `firstRowsWriteNothing`: a sample of its first rows
        /// found nothing to write (``sampleWrites(_:on:)``), so the update need not look again.
        case copied(Copied, firstRowsWriteNothing: Bool)
        /// The input is written, and reviewed with the prior values read: the update commits.
        case written(WrittenAhead)
        /// Held to a review whose fingerprint the table still gives: the input is written and its
        /// prior values recorded (``recordPrior(_:on:into:undo:)``): the update commits.
        case recorded(RecordedAhead)
        /// Held to a review whose fingerprint the table no longer gives (or whose input repeats
        /// a key, or whose write failed): what was written is undone, nothing reached `undo`,
        /// and the whole input is in the input table. The update goes on as for any input held
        /// to a review that changed since.
        case undone(Copied)
    }

    /// What the second connection does with the whole input beside the write.
    enum AheadRead {
        /// Reviews it (an update approved up front); `recordsState`: keeps what a re-apply of
        /// the input counts (``AppliedState``).
        case review(InlineReview, recordsState: Bool)
        /// Compares the table's fingerprint with the review's (an approval), then records the
        /// prior values.
        case heldToReview(fingerprint: String)
    }

    /// An input held to a review, written while it was copied, and its prior values recorded.
    struct RecordedAhead {
        var copied: Copied
        var recorded: Recorded
        var written: Written
        /// Per column, the values the input gives keys the table does not have (as
        /// ``SQL/filledOfUnknownKeys`` counts them; empty unless ``countsFilled`` and some key is
        /// unknown), read on the second connection: the write's input table ends holding only
        /// the last stretch.
        var filledOfUnknownKeys: [Int] = []
    }

    /// An input written while it was copied, and its review.
    struct WrittenAhead {
        var copied: Copied
        var summary: ReviewSummary
        var filled: [Int]
        var written: Written
    }

    /// Copies an input that arrives as fast as it can be read (``writesWhileCopying``) for an
    /// update reviewed in its own transaction or held to a review's fingerprint, writing it
    /// while it is read. The time it takes to read and check rows is then spent beside the
    /// server's UPDATE rather than before it.
    ///
    /// Its first rows (``copyAheadRows``) are copied; when the input is no longer than that,
    /// or when they would write nothing (a re-apply, most likely; the table is left unlocked),
    /// the rest is copied as for any input and the update goes on as usual
    /// (``CopiedAhead/copied(_:firstRowsWriteNothing:)``), as it does, with the table locked,
    /// when no second connection can be had. Otherwise, the table locked, on this connection the
    /// copied rows are written (``write(_:on:)``), the input table emptied, the rows read since
    /// copied in from the spool and written, until the input ends; meanwhile every row is read,
    /// checked and spooled. Once the last is read, the whole spool goes into the
    /// ``PriorReader``'s connection, which reviews it while the writes go on: it reads the table
    /// as it was, locked against other writers since before the first write, which it cannot see
    /// uncommitted. Keys not proven distinct are checked there: rows repeating a key with the same
    /// values are dropped from the review (the write changes such a row once), a key given
    /// different values fails the update, which then changes nothing. A refused review, a
    /// refused row, any failure: the transaction rolls back.
    ///
    /// Held to a review (``AheadRead/heldToReview(fingerprint:)``), the second connection reads
    /// the table's fingerprint first, then the prior values into `stats` and `undo`. Another
    /// fingerprint, a repeated key or a write that failed (it may have failed on a row that
    /// drifted, which the apply sets aside) is the rare case: the writes are rolled back to a
    /// savepoint taken before the first, the whole input copied in again
    /// (``CopiedAhead/undone(_:)``), and the update goes on as without writing ahead.
    func copyAhead<Input: AsyncSequence>(
        _ input: Input, into sql: SQL, on connection: PostgresConnection, rows: inout InputRows,
        keys: inout KeyTracker, spool: CopySpool, beside read: AheadRead, stats: inout BulkUpdateStats,
        reader: inout PriorReader?, undo: (Batch) async throws -> Void
    ) async throws -> CopiedAhead where Input.Element == Batch {
        let encoder = CopySpool.Encoder(spool: spool, encoding: rows.encoding)
        var iterator = input.makeAsyncIterator()
        var ended = false
        while rows.count < copyAheadRows {
            guard let batch = try await iterator.next() else {
                ended = true
                break
            }
            try await encode(batch, rows: &rows, keys: &keys, into: encoder)
        }
        let first = await encoder.flush()
        // After the write: a spool that could not take the rows refuses to be read.
        let source = try spool.reader()
        if let first { try await copy(first, from: source, into: sql, on: connection) }
        if ended { return .copied(rows.copied, firstRowsWriteNothing: false) }
        // A hint, taken before the lock: the rest of an input whose first rows would write
        // nothing (a re-apply, most likely) is copied with the table unlocked, as for any input.
        let writes = try await sampleWrites(sql, on: connection)
        if writes { _ = try await connection.execute(sql.lock) }
        guard writes, let concurrent = await PriorReader.open(alongside: connection, sql: sql) else {
            let rest = RemainingBatches(iterator: iterator)
            // Rows that write nothing are reviewed on this connection: no second one reads a spool.
            let copied = try await copy(
                rest, into: sql, on: connection, rows: &rows, keys: &keys, spool: writes ? spool : nil)
            return .copied(copied, firstRowsWriteNothing: !writes)
        }
        reader = concurrent
        let queue = StretchQueue()
        let firstRows = rows.count
        // Held to a review: what the write undoes when the table is not the one reviewed.
        let undoable = if case .heldToReview = read { true } else { false }
        if undoable { _ = try await connection.execute("SAVEPOINT sluice_apply_ahead") }
        return try await withThrowingTaskGroup(of: Written.self) { group in
            group.addTask { [self] in
                do {
                    return try await writeAsCopied(
                        sql, on: connection, firstRows: firstRows, queue: queue, from: source)
                } catch {
                    queue.writeFailed()
                    if let error = error as? PostgresError {
                        throw BulkUpdateError(table: table, phase: .update, postgres: error)
                    }
                    throw error
                }
            }
            do {
                var handedOver = rows.count
                // Held to a review, the rows are all read even so: the write is undone and redone.
                while undoable || !queue.hasWriteFailed, let batch = try await iterator.next() {
                    try await encode(batch, rows: &rows, keys: &keys, into: encoder)
                    if rows.count - handedOver >= max(1, copyAheadRows / 2) {
                        try await queue.add(flushed(encoder))
                        handedOver = rows.count
                    }
                }
                try await queue.add(flushed(encoder))
                queue.finish()
            } catch {
                queue.abandon()
                throw error
            }
            if queue.hasWriteFailed, !undoable {
                // The write's error.
                _ = try await group.next()
            }
            let distinct = keys.provesUnique || keysProvenDistinct(keys)
            let review: InlineReview
            let recordsState: Bool
            switch read {
            case .heldToReview(let fingerprint):
                stats.inputRows = rows.copied.rows
                if !queue.hasWriteFailed,
                    var recorded = try await recordBeside(
                        sql, fingerprint: fingerprint, reader: concurrent.connection, spool: spool, source: source,
                        keysDistinct: distinct, into: &stats, undo: undo)
                {
                    recorded.copied = rows.copied
                    recorded.written = try await group.next() ?? Written()
                    return .recorded(recorded)
                }
                // Written on a table that changed since the review: undone, whatever came of it.
                do {
                    _ = try await group.next()
                } catch let error as BulkUpdateError where error.reason == .constraintViolation {}
                _ = try await connection.execute("ROLLBACK TO SAVEPOINT sluice_apply_ahead")
                _ = try await connection.execute(sql.emptyInput)
                try await copy(spool.whole, from: source, into: sql, on: connection)
                return .undone(rows.copied)
            case .review(let inline, let records):
                (review, recordsState) = (inline, records)
            }
            // Every row is read: the second connection reviews them while the write goes on.
            var summary = ReviewSummary(table: table, key: key, mode: mode.rawValue)
            summary.inputRows = rows.count
            summary.offsetTimestamps = rows.offsetTimestamps
            // Refusing a value here, before the write got to it, fails the same way.
            try await copy(spool.whole, from: source, into: sql, on: concurrent.connection)
            try await analyzeInput(sql, on: concurrent.connection)
            var counts: [Int]? = rows.copied.counts
            if !distinct {
                summary.duplicateRows = try await removeDuplicates(sql, on: concurrent.connection, inTransaction: true)
                if summary.duplicateRows > 0 { counts = nil }
            }
            let filled = try await reviewInline(
                sql, on: concurrent.connection, into: &summary, inputCounts: counts, recordsState: recordsState,
                review: review, undo: undo)
            let written = try await group.next() ?? Written()
            return .written(WrittenAhead(copied: rows.copied, summary: summary, filled: filled, written: written))
        }
    }

    /// The second connection's part of an update held to a review, once every row is read: the
    /// input copied in, the table's fingerprint compared with the review's (`nil` when another,
    /// or when the input repeats a key), then the prior values recorded, and what the input gives
    /// unknown keys counted (the write is not in the result yet).
    private func recordBeside(
        _ sql: SQL, fingerprint: String, reader: PostgresConnection, spool: CopySpool, source: CopySpool.Reader,
        keysDistinct: Bool, into stats: inout BulkUpdateStats, undo: (Batch) async throws -> Void
    ) async throws -> RecordedAhead? {
        try await copy(spool.whole, from: source, into: sql, on: reader)
        try await analyzeInput(sql, on: reader)
        if !keysDistinct {
            guard try await removeDuplicates(sql, on: reader, inTransaction: true) == 0 else { return nil }
        }
        guard try await stateFingerprint(sql, on: reader) == fingerprint else { return nil }
        stats.reviewFingerprintMatched = true
        var recorded = RecordedAhead(
            copied: Copied(filled: []), recorded: try await recordPrior(sql, on: reader, into: &stats, undo: undo),
            written: Written())
        if countsFilled, mode == .update, stats.unknownKeys > 0 {
            let row = try await reader.execute(sql.filledOfUnknownKeys).rows.first ?? []
            recorded.filledOfUnknownKeys = row.map { Int($0.intValue ?? 0) }
        }
        return recorded
    }

    /// The write's side of ``copyAhead(_:into:on:rows:keys:spool:beside:stats:reader:undo:)``: writes
    /// the `firstRows` rows in the input table, then, until the input ends, replaces them with
    /// the rows read since (at least half as many as written so far, so the statements stay
    /// few) and writes those.
    private func writeAsCopied(
        _ sql: SQL, on connection: PostgresConnection, firstRows: Int, queue: StretchQueue,
        from source: CopySpool.Reader
    ) async throws -> Written {
        // The later stretches, copied after `TRUNCATE`, are planned on these statistics too.
        try await analyzeInput(sql, on: connection)
        var written = try await write(sql, on: connection)
        var copied = firstRows
        while let stretch = try await queue.next(atLeast: max(max(1, copyAheadRows / 2), copied / 2)) {
            _ = try await connection.execute(sql.emptyInput)
            try await copy(stretch, from: source, into: sql, on: connection)
            copied += stretch.rowCount
            let more = try await write(sql, on: connection)
            written.rows += more.rows
            written.deleted += more.deleted
            written.statements += more.statements
            written.intended += more.intended
        }
        return written
    }

    /// Copies `stretch` of the spool into the input table; a value the server refuses fails
    /// naming its row in the whole input.
    private func copy(
        _ stretch: CopySpool.Stretch, from source: CopySpool.Reader, into sql: SQL, on connection: PostgresConnection
    ) async throws {
        let copied: Int
        do {
            copied = try await source.copy(into: connection, sql.copyInput, stretch)
        } catch let error as PostgresError where error.refusesACopiedValue {
            throw BulkUpdateError(invalidInput: error, table: table, key: key)
        }
        guard copied == stretch.rowCount else {
            throw PostgresError(kind: .client, message: "copied \(copied) input rows instead of \(stretch.rowCount)")
        }
    }

    /// Encodes `batch`'s rows; once a megabyte waits, writes it to the spool.
    private func encode(
        _ batch: Batch, rows: inout InputRows, keys: inout KeyTracker, into encoder: CopySpool.Encoder
    ) async throws {
        let indices = try rows.indices(in: batch)
        for source in batch.rows { encoder.append(try rows.project(source, at: indices, keys: &keys)) }
        if encoder.bufferedBytes >= 1 << 20 { await encoder.write() }
    }

    /// The rows encoded since the last call, written to the spool.
    private func flushed(_ encoder: CopySpool.Encoder) async throws -> CopySpool.Stretch? {
        let stretch = await encoder.flush()
        if let failure = encoder.spool.failure {
            throw PostgresError(kind: .client, message: "cannot keep the input to write it as it is read: \(failure)")
        }
        return stretch
    }
}

/// What is left of an input whose first rows were read: its iterator, as a sequence.
struct RemainingBatches<Base: AsyncIteratorProtocol>: AsyncSequence where Base.Element == Batch {
    typealias Element = Batch
    let iterator: Base
    func makeAsyncIterator() -> Base { iterator }
}

/// Hands the rows read (stretches of the spool) from the task reading the input to the one
/// writing them: one waiting stretch, grown as rows arrive, taken whole.
final class StretchQueue: Sendable {
    private struct State {
        var pending: CopySpool.Stretch?
        var ended = false
        var abandoned = false
        var writeFailed = false
        var waiter: (minimum: Int, continuation: CheckedContinuation<CopySpool.Stretch?, any Error>)?
    }

    private let state = Mutex(State())

    /// Adds the rows read since the last call (`nil`: none).
    func add(_ stretch: CopySpool.Stretch?) {
        guard let stretch else { return }
        state.withLock { state in
            state.pending = state.pending.map { $0.followed(by: stretch) } ?? stretch
            if let waiter = state.waiter, let pending = state.pending, pending.rowCount >= waiter.minimum {
                state.pending = nil
                state.waiter = nil
                waiter.continuation.resume(returning: pending)
            }
        }
    }

    /// No more rows: the writer takes what waits, then gets `nil`.
    func finish() {
        state.withLock { state in
            state.ended = true
            if let waiter = state.waiter {
                state.waiter = nil
                let pending = state.pending
                state.pending = nil
                waiter.continuation.resume(returning: pending)
            }
        }
    }

    /// The reading failed: the writer stops.
    func abandon() {
        state.withLock { state in
            state.abandoned = true
            state.waiter?.continuation.resume(throwing: CancellationError())
            state.waiter = nil
        }
    }

    func writeFailed() { state.withLock { $0.writeFailed = true } }
    var hasWriteFailed: Bool { state.withLock { $0.writeFailed } }

    /// The rows waiting once there are at least `minimum` of them, or once the input ended
    /// (`nil` when none are left).
    func next(atLeast minimum: Int) async throws -> CopySpool.Stretch? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                state.withLock { state in
                    if state.abandoned || Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else if let pending = state.pending, state.ended || pending.rowCount >= minimum {
                        state.pending = nil
                        continuation.resume(returning: pending)
                    } else if state.ended {
                        continuation.resume(returning: nil)
                    } else {
                        state.waiter = (minimum, continuation)
                    }
                }
            }
        } onCancel: {
            abandon()
        }
    }
}
