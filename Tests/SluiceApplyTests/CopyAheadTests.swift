import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

/// An update reviewed in its own transaction whose input is written as it is read
/// (``BulkUpdate/writesWhileCopying``): the same table, undo, review and counts as when it is
/// written after the last row, and on any failure nothing changed.
@Suite struct CopyAheadTests {
    static func id(_ n: Int) -> String {
        "00000000-0000-4000-8000-\(String(repeating: "0", count: 12 - String(n).count))\(n)"
    }

    /// Tracks 1...60: popularity n % 50, isrc `X<n>` for even n, else NULL; then `then` runs.
    static func scratch(then: String? = nil) async throws -> Scratch {
        try await Scratch.make(
            schema: TestPostgres.tracksSchema
                + """
                ;
                INSERT INTO tracks (id, title, spotify_popularity, isrc)
                SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'T' || i, i % 50,
                       CASE WHEN i % 2 = 0 THEN 'X' || i END
                FROM generate_series(1, 60) AS i
                """ + (then.map { ";\n" + $0 } ?? ""))
    }

    /// Keys 1...70 (61...70 are not in the table): every third keeps its popularity, every
    /// fifth has an empty isrc (cleared); `changes` replace rows by key.
    static func rows(_ changes: [Int: (Value, Value)] = [:], extra: [(Int, Value, Value)] = []) -> [[Value]] {
        (1...70).map { n in
            let (popularity, isrc) =
                changes[n] ?? (
                    n % 3 == 0 ? .int(Int64(n % 50)) : .int(Int64(n * 7 % 101)), n % 5 == 0 ? "" : .string("I\(n)")
                )
            return [.string(id(n)), popularity, isrc]
        } + extra.map { [.string(id($0.0)), $0.1, $0.2] }
    }

    static let columns = ["id", "spotify_popularity", "isrc"]

    /// The rows in batches of five, a pause before each, failing before batch `failAt`: an input
    /// read slowly enough that the write takes it in several stretches.
    struct Trickle: AsyncSequence {
        typealias Element = Batch
        struct Failed: Error {}
        let rows: [[Value]]
        var failAt: Int?
        /// Runs before batch `.0` is read.
        var meanwhile: (Int, @Sendable () async throws -> Void)?

        struct AsyncIterator: AsyncIteratorProtocol {
            let rows: [[Value]]
            let failAt: Int?
            let meanwhile: (Int, @Sendable () async throws -> Void)?
            var batch = 0
            mutating func next() async throws -> Batch? {
                let start = batch * 5
                guard start < rows.count else { return nil }
                if batch == failAt { throw Failed() }
                if let meanwhile, meanwhile.0 == batch { try await meanwhile.1() }
                batch += 1
                try await Task.sleep(for: .milliseconds(15))
                return Batch(
                    columns: CopyAheadTests.columns, rows: Array(rows[start..<Swift.min(start + 5, rows.count)]))
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(rows: rows, failAt: failAt, meanwhile: meanwhile) }
    }

    static func update(ahead: Bool, concurrentFrom rows: Int = 1) -> BulkUpdate {
        var update = BulkUpdate(
            table: "tracks", key: "id",
            columns: [.init("spotify_popularity", onEmpty: .keep), .init("isrc", onEmpty: .clear)])
        update.countsFilled = true
        update.concurrentPriorReadRows = rows
        update.writesWhileCopying = ahead
        update.copyAheadRows = 10
        return update
    }

    static func snapshot(_ connection: PostgresConnection) async throws -> [[Value]] {
        try await connection.execute("SELECT id::text, spotify_popularity, isrc FROM tracks ORDER BY id").rows
    }

    struct Outcome {
        var stats: BulkUpdateStats
        var summary: ReviewSummary?
        var undo: [[Value]]
        var table: [[Value]]
    }

    static func run(ahead: Bool, rows: [[Value]]) async throws -> Outcome {
        let db = try await scratch()
        var summary: ReviewSummary?
        let review = BulkUpdate.InlineReview(cells: { _ in }) { reviewed, _ in summary = reviewed }
        var undo: [[Value]] = []
        let stats = try await update(ahead: ahead).run(on: db.connection, input: Trickle(rows: rows), review: review) {
            undo += $0.rows
        }
        return Outcome(
            stats: stats, summary: summary, undo: undo.sorted { ($0[0].text ?? "") < ($1[0].text ?? "") },
            table: try await snapshot(db.connection))
    }

    /// Compares a run written as read with one written after the last row.
    static func compare(_ rows: [[Value]]) async throws -> Outcome {
        let after = try await run(ahead: false, rows: rows)
        let ahead = try await run(ahead: true, rows: rows)
        #expect(ahead.stats.writeStatements > 1 && after.stats.writeStatements == 1)
        #expect(ahead.stats.priorReadConcurrently)
        #expect(ahead.table == after.table)
        #expect(ahead.undo == after.undo)
        #expect(ahead.summary == after.summary)
        // How it got there differs: several writes, and the prior values read on a second
        // connection (written after the last row, an input with duplicates reads them on one).
        #expect(ahead.stats.written(like: after.stats) == after.stats)
        return ahead
    }

    @Test func writingAsTheRowsAreReadGivesWhatWritingAfterTheLastGives() async throws {
        let ahead = try await Self.compare(Self.rows())
        #expect(ahead.stats.inputRows == 70 && ahead.stats.matched == 60 && ahead.stats.unknownKeys == 10)
        #expect(ahead.stats.changed > 30 && ahead.undo.count == ahead.stats.changed)
    }

    /// A row repeated with the same values in a later stretch is written once and counted as a
    /// duplicate, as when the rows are checked before the write.
    @Test func aRowRepeatedLaterIsDroppedAsADuplicate() async throws {
        let rows = Self.rows()
        let ahead = try await Self.compare(rows + [rows[2], rows[40]])
        #expect(ahead.stats.duplicateRows == 2 && ahead.stats.inputRows == 72)
    }

    static func expectNothingChanged(
        rows: [[Value]], failAt: Int? = nil, review: BulkUpdate.InlineReview? = nil,
        update: BulkUpdate = update(ahead: true), _ check: (any Error) -> Void
    ) async throws {
        let db = try await scratch()
        let before = try await snapshot(db.connection)
        let review = review ?? BulkUpdate.InlineReview(cells: { _ in }) { _, _ in }
        do {
            _ = try await update.run(
                on: db.connection, input: Trickle(rows: rows, failAt: failAt), review: review
            ) { _ in }
            Issue.record("the update went through")
        } catch {
            check(error)
        }
        #expect(try await snapshot(db.connection) == before)
        // The second connection is closed, not left open in its transaction.
        #expect(try await otherSessions(db.connection) == 0)
    }

    @Test func aKeyGivenOtherValuesLaterFailsAndChangesNothing() async throws {
        try await Self.expectNothingChanged(rows: Self.rows(extra: [(3, 99, "OTHER")])) { error in
            let error = error as? BulkUpdateError
            #expect(error?.reason == .duplicateKeys && error?.key == Self.id(3))
        }
    }

    @Test func aConstraintViolatedLateFailsNamingTheKeyAndChangesNothing() async throws {
        try await Self.expectNothingChanged(rows: Self.rows([55: (150, "I55")])) { error in
            let error = error as? BulkUpdateError
            #expect(error?.reason == .constraintViolation && error?.key == Self.id(55))
        }
    }

    /// A key the server refuses, read after rows were written: named by its row in the input.
    @Test func aValueRefusedLateNamesItsRowAndChangesNothing() async throws {
        var rows = Self.rows()
        rows[47][0] = "not-a-uuid"
        try await Self.expectNothingChanged(rows: rows) { error in
            let error = error as? BulkUpdateError
            #expect(error?.reason == .invalidValue && error?.inputRow == 48)
        }
    }

    /// A value refused late, copied in from the spool after rows were written (a popularity that
    /// is not a number): named by its row and its key (it was the row alone).
    @Test func aValueRefusedLateNamesItsRowsKeyAndChangesNothing() async throws {
        var rows = Self.rows()
        rows[47][1] = "abc"
        try await Self.expectNothingChanged(rows: rows) { error in
            let error = error as? BulkUpdateError
            #expect(error?.reason == .invalidValue && error?.inputRow == 48 && error?.key == Self.id(48))
            #expect(
                error?.message.hasPrefix("input row 48 (id \(Self.id(48))), column spotify_popularity: ") == true,
                "\(String(describing: error))")
        }
    }

    @Test func anInputFailingAfterRowsWereWrittenChangesNothing() async throws {
        try await Self.expectNothingChanged(rows: Self.rows(), failAt: 10) { error in
            #expect(error is Trickle.Failed)
        }
    }

    @Test func aRefusedReviewChangesNothing() async throws {
        struct Refused: Error {}
        let review = BulkUpdate.InlineReview(cells: { _ in }) { _, _ in throw Refused() }
        try await Self.expectNothingChanged(rows: Self.rows(), review: review) { error in
            #expect(error is Refused)
        }
    }

    /// An input that outgrows the spool carrying it to the write fails the update (its caller
    /// keeps such inputs off this path), naming why, and changes nothing.
    @Test func anInputLargerThanTheSpoolFailsAndChangesNothing() async throws {
        var update = Self.update(ahead: true)
        update.spoolLimit = 2_000
        try await Self.expectNothingChanged(rows: Self.rows(), update: update) { error in
            #expect("\(error)".contains("larger than 2000 bytes"), "\(error)")
        }
    }

    /// Rows that write nothing (a re-apply) are reviewed first and not written at all.
    @Test func aReApplyRunsNoWrite() async throws {
        let db = try await Self.scratch()
        let review = BulkUpdate.InlineReview(cells: { _ in }) { _, _ in }
        let first = try await Self.update(ahead: true).run(
            on: db.connection, input: Trickle(rows: Self.rows()), review: review
        ) { _ in }
        #expect(first.writeStatements > 1)
        let again = try await Self.update(ahead: true).run(
            on: db.connection, input: Trickle(rows: Self.rows()), review: review
        ) { _ in }
        #expect(again.writeStatements == 0 && again.changed == 0 && again.matched == 60)
    }

    /// An input whose first rows write nothing (a re-apply) is read with the table unlocked, as
    /// any input is: other writers go on meanwhile.
    @Test func aReApplyLeavesOtherWritersFreeWhileItsInputIsRead() async throws {
        let db = try await Self.scratch()
        let review = BulkUpdate.InlineReview(cells: { _ in }) { _, _ in }
        let update = Self.update(ahead: true)
        _ = try await update.run(on: db.connection, input: Trickle(rows: Self.rows()), review: review) { _ in }
        let other = try await db.connect()
        defer { Task { await other.close() } }
        _ = try await other.execute("SET lock_timeout = '5s'")
        var input = Trickle(rows: Self.rows())
        // Batch 6 (rows 31-35): the first stretch (10 rows) was copied and sampled long before.
        input.meanwhile = (
            6,
            {
                let locked = try await other.execute(
                    "SELECT count(*) FROM pg_locks WHERE relation = 'tracks'::regclass AND mode = 'ShareRowExclusiveLock'"
                ).scalar.intValue
                #expect(locked == 0)
                let updated = try await other.execute(
                    "UPDATE tracks SET title = 'renamed' WHERE id = $1", [.string(Self.id(3))])
                #expect(updated.affectedRows == 1)
            }
        )
        let again = try await update.run(on: db.connection, input: input, review: review) { _ in }
        await other.close()
        #expect(again.writeStatements == 0 && again.changed == 0 && again.matched == 60)
    }

    /// Rows that write nothing at all (a re-apply) never lock the table, read as they are written
    /// or after the last: a session holding the lock `VACUUM` and autovacuum take, which the
    /// apply's own lock would wait for (and then cancel an autovacuum), does not hold it up. The
    /// same rows with one changed far in are written, so they lock the table: they wait. An
    /// input too small for a second connection (the default 50,000 rows) locks nothing either.
    @Test(arguments: [(true, 1), (false, 1), (false, 50_000)])
    func aReApplyTakesNoTableLock(ahead: Bool, concurrentFrom: Int) async throws {
        let db = try await Self.scratch()
        let update = Self.update(ahead: ahead, concurrentFrom: concurrentFrom)
        let quiet = BulkUpdate.InlineReview(cells: { _ in }) { _, _ in }
        _ = try await update.run(on: db.connection, input: Trickle(rows: Self.rows()), review: quiet) { _ in }
        let vacuum = try await db.connect()
        // Closed however the test ends: an open lock would hold up dropping the scratch database.
        defer { Task { await vacuum.close() } }
        _ = try await vacuum.execute("BEGIN")
        _ = try await vacuum.execute("LOCK TABLE tracks IN SHARE UPDATE EXCLUSIVE MODE")
        _ = try await db.connection.execute("SET lock_timeout = '2s'")
        var summary: ReviewSummary?
        let review = BulkUpdate.InlineReview(cells: { _ in }) { reviewed, _ in summary = reviewed }
        var undo: [[Value]] = []
        let again = try await update.run(on: db.connection, input: Trickle(rows: Self.rows()), review: review) {
            undo += $0.rows
        }
        #expect(again.writeStatements == 0 && again.changed == 0 && again.matched == 60 && again.unknownKeys == 10)
        #expect(summary?.changedRows == 0 && summary?.matched == 60 && summary?.unknownKeys == 10)
        #expect(undo.isEmpty)
        let before = try await Self.snapshot(db.connection)
        let error = await #expect(throws: (any Error).self) {
            try await update.run(
                on: db.connection, input: Trickle(rows: Self.rows([45: (.int(99), "NEW")])), review: quiet
            ) { _ in }
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("lock timeout"), "\(String(describing: error))")
        _ = try await vacuum.execute("ROLLBACK")
        await vacuum.close()
        #expect(try await Self.snapshot(db.connection) == before)
    }

    /// Rows whose first ones write nothing but a later one does: the review begun before the lock
    /// stops at that row and leaves no trace (no cell, no undo record handed on); the update then
    /// locks the table, reviews and writes as for any input. (Written after the last row, these
    /// 70 rows are all in the sample of the first 2,000: it sees the change and locks at once.)
    @Test(arguments: [true, false]) func aChangeAfterUnchangedRowsIsReviewedOnceAndWritten(ahead: Bool) async throws {
        let db = try await Self.scratch()
        let update = Self.update(ahead: ahead)
        let quiet = BulkUpdate.InlineReview(cells: { _ in }) { _, _ in }
        _ = try await update.run(on: db.connection, input: Trickle(rows: Self.rows()), review: quiet) { _ in }
        var cells: [ReviewCells] = []
        var summary: ReviewSummary?
        let review = BulkUpdate.InlineReview(cells: { cells.append($0) }) { reviewed, _ in summary = reviewed }
        var undo: [[Value]] = []
        let stats = try await update.run(
            on: db.connection, input: Trickle(rows: Self.rows([45: (.int(99), "NEW")])), review: review
        ) { undo += $0.rows }
        #expect(stats.changed == 1 && stats.writeStatements == 1 && stats.matched == 60)
        #expect(summary?.changedRows == 1 && summary?.matched == 60 && summary?.unknownKeys == 10)
        #expect(cells.flatMap(\.keys) == [Self.id(45), Self.id(45)])
        #expect(cells.flatMap(\.new) == ["99", "NEW"])
        #expect(undo.count == 1 && undo.first?.first == .string(Self.id(45)))
        let row = try await db.connection.execute(
            "SELECT spotify_popularity, isrc FROM tracks WHERE id = $1", [.string(Self.id(45))]
        ).rows.first
        #expect(row == [.int(99), "NEW"])
    }
}
