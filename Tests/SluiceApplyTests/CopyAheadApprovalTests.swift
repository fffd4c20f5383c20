import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

/// An update held to a review with a fingerprint (an approval) whose input is written as it is
/// read (``BulkUpdate/writesWhileCopying``): the second connection compares the fingerprint on
/// the table as the write found it. The same table, undo and counts as when it is written after
/// the last row; a table changed since the review, a repeated key or a failed write undo the
/// writes and hold the apply to the review cell by cell, as without writing ahead.
@Suite struct CopyAheadApprovalTests {
    typealias Rows = CopyAheadTests

    struct Outcome {
        var stats: BulkUpdateStats
        var undo: [[Value]]
        var table: [[Value]]
    }

    /// Reviews `rows` on a fresh table, runs `since` (another session's writes, a constraint),
    /// then applies them held to that review, written as they are read (`ahead`) or after the
    /// last. The review and the apply use ``CopyAheadTests/update(ahead:concurrentFrom:)``.
    static func approve(
        _ rows: [[Value]], ahead: Bool, since: String? = nil, onDrift: BulkUpdate.OnDrift = .skip
    ) async throws -> Outcome {
        let db = try await Rows.scratch()
        let update = Rows.update(ahead: ahead)
        var cells: [[Value]] = []
        let summary = try await update.review(on: db.connection, input: Rows.Trickle(rows: rows)) { batch in
            cells += batch.batch.rows.map { Array($0.prefix(4)) }
        }
        let fingerprint = try #require(summary.stateFingerprint)
        if let since {
            let other = try await db.connect()
            _ = try await other.execute(since)
            await other.close()
        }
        let before = try await Rows.snapshot(db.connection)
        var undo: [[Value]] = []
        do {
            let stats = try await update.run(
                on: db.connection, input: Rows.Trickle(rows: rows),
                reviewed: AsyncBatches([Batch(columns: ["key", "column", "old", "new"], rows: cells)]),
                fingerprint: fingerprint, onDrift: onDrift
            ) { undo += $0.rows }
            return Outcome(
                stats: stats, undo: undo.sorted { ($0[0].text ?? "") < ($1[0].text ?? "") },
                table: try await Rows.snapshot(db.connection))
        } catch {
            // Failed: nothing changed, and the second connection is closed.
            #expect(try await Rows.snapshot(db.connection) == before)
            #expect(try await otherSessions(db.connection) == 0)
            throw error
        }
    }

    /// Both ways, `since` the same: the same table, undo and counts; returns the one written ahead.
    static func compare(_ rows: [[Value]], since: String? = nil) async throws -> Outcome {
        let after = try await approve(rows, ahead: false, since: since)
        let ahead = try await approve(rows, ahead: true, since: since)
        #expect(ahead.table == after.table)
        #expect(ahead.undo == after.undo)
        #expect(ahead.stats.written(like: after.stats) == after.stats)
        return ahead
    }

    @Test func anApprovalWrittenAsItIsReadGivesWhatWritingAfterTheLastGives() async throws {
        let ahead = try await Self.compare(Rows.rows())
        #expect(ahead.stats.writeStatements > 1)
        #expect(ahead.stats.priorReadConcurrently && ahead.stats.reviewFingerprintMatched)
        #expect(ahead.stats.inputRows == 70 && ahead.stats.matched == 60 && ahead.stats.unknownKeys == 10)
        #expect(ahead.stats.changed > 30 && ahead.undo.count == ahead.stats.changed)
    }

    /// Keys the table does not have, read before the last stretch: their values are not counted
    /// as filled, though the write's input table ends holding only that stretch (verify checks
    /// these counts).
    @Test func unknownKeysReadEarlyAreNotCountedAsFilled() async throws {
        let rows = Rows.rows()
        let ahead = try await Self.compare(Array(rows[0..<30] + rows[60..<70] + rows[30..<60]))
        #expect(ahead.stats.writeStatements > 1 && ahead.stats.reviewFingerprintMatched)
        #expect(ahead.stats.unknownKeys == 10)
        // Keys 1...60: every popularity given; an ISRC for all but every fifth.
        #expect(ahead.stats.filled == [60, 48])
    }

    /// Row 7 changed since the review: the writes made as the rows were read are undone before
    /// `undo` got anything, and the drifted row is set aside, the rest written once.
    @Test func aTableChangedSinceTheReviewUndoesTheWritesAndSetsTheDriftedRowAside() async throws {
        let since = "UPDATE tracks SET spotify_popularity = 1 WHERE id = '\(Rows.id(7))'"
        let ahead = try await Self.compare(Rows.rows(), since: since)
        #expect(ahead.stats.drifted == 1 && !ahead.stats.reviewFingerprintMatched)
        #expect(ahead.stats.writeStatements == 1)
        #expect(ahead.table.first { $0[0] == .string(Rows.id(7)) }?[1] == 1)
        #expect(!ahead.undo.contains { $0[0] == .string(Rows.id(7)) })
        let error = await #expect(throws: BulkUpdateError.self) {
            _ = try await Self.approve(Rows.rows(), ahead: true, since: since, onDrift: .fail)
        }
        #expect(error?.reason == .drift && error?.keys == [Rows.id(7)])
    }

    /// A row repeated with the same values: the review folded it, so the fingerprint is compared
    /// once the input holds it once: on this connection, as without writing ahead.
    @Test func anInputRepeatingARowIsHeldToTheReviewAsWithoutWritingAhead() async throws {
        let rows = Rows.rows()
        let ahead = try await Self.compare(rows + [rows[2], rows[40]])
        #expect(ahead.stats.duplicateRows == 2 && ahead.stats.drifted == 0)
    }

    /// A constraint added since the review that only row 55's reviewed value breaks: the write
    /// fails on it as it is read. Row 55 drifted too, it is set aside, so it fails nothing;
    /// undrifted, it fails the apply, naming it, and nothing changes.
    @Test func aDriftedRowBreakingAConstraintIsSetAsideNotFailed() async throws {
        var rows = Rows.rows()
        rows[54][1] = 100
        let constraint = "ALTER TABLE tracks ADD CONSTRAINT not_100 CHECK (spotify_popularity <> 100)"
        let error = await #expect(throws: BulkUpdateError.self) {
            _ = try await Self.approve(rows, ahead: true, since: constraint)
        }
        #expect(error?.reason == .constraintViolation && error?.key == Rows.id(55))
        let ahead = try await Self.compare(
            rows, since: constraint + "; UPDATE tracks SET spotify_popularity = 3 WHERE id = '\(Rows.id(55))'")
        #expect(ahead.stats.drifted == 1)
        #expect(ahead.table.first { $0[0] == .string(Rows.id(55)) }?[1] == 3)
    }
}
