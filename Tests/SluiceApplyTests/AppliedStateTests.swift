import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

/// An apply records what it left (``BulkUpdate/AppliedState``); an apply of the same input onto a
/// table still holding that writes nothing without reading the input, and reports what a
/// re-apply that reads it reports.
@Suite struct AppliedStateTests {
    /// Every kind of change, an unknown key and a duplicate row (see BulkUpdateReviewTests).
    static let input = BulkUpdateReviewTests.input

    struct Applied {
        var stats: BulkUpdateStats
        var summary: ReviewSummary?
        var cells = 0
        var undoRows = 0
    }

    /// Runs `update` reviewed inside its transaction (`--yes`), as the apply stage does.
    static func apply<Input: AsyncSequence>(
        _ update: BulkUpdate, _ input: Input, on connection: PostgresConnection
    ) async throws -> Applied where Input.Element == Batch {
        var update = update
        update.countsFilled = true
        var summary: ReviewSummary?
        var cells = 0
        var undoRows = 0
        let review = BulkUpdate.InlineReview(cells: { cells += $0.count }) { reviewed, _ in summary = reviewed }
        let stats = try await update.run(on: connection, input: input, review: review) { undoRows += $0.count }
        return Applied(stats: stats, summary: summary, cells: cells, undoRows: undoRows)
    }

    /// The `ROWS:HASH` end of an ``BulkUpdate/AppliedState/fingerprint`` as a scan of `table`
    /// reads it now (the state is worked out without one: this checks it).
    static func scanned(_ table: String, _ columns: String, on connection: PostgresConnection) async throws -> String {
        let row = try #require(
            try await connection.execute(
                "SELECT count(*)::text || ':' || COALESCE(bit_xor(hash_record_extended(ROW(\(columns)), 0)), 0)::text FROM \(table)"
            ).rows.first)
        return try #require(row.first?.text)
    }

    static func recording(_ update: BulkUpdate, state: BulkUpdate.AppliedState? = nil) -> BulkUpdate {
        var update = update
        update.recordsAppliedState = true
        update.appliedState = state
        return update
    }

    /// On the locked table, reviewed before the write or beside it: the state recorded matches
    /// the table, and an apply given it skips (its input unread) with the very summary, counts and
    /// filled figures of a re-apply that reads everything.
    @Test(arguments: [false, true]) func aReApplyOfTheSameInputReadsNothing(concurrent: Bool) async throws {
        let db = try await Tracks.scratch()
        let update = Tracks.update(concurrent: concurrent)
        // Reviewed beside the write only when no duplicate rows were dropped.
        let input = concurrent ? Batch(columns: Self.input.columns, rows: Self.input.rows.dropLast()) : Self.input
        let first = try await Self.apply(Self.recording(update), AsyncBatches([input]), on: db.connection)
        #expect(first.stats.changed == 4 && first.stats.priorReadConcurrently == concurrent)
        let state = try #require(first.stats.appliedState)
        #expect(state.unknownKeys == 1 && state.duplicateRows == (concurrent ? 0 : 1))
        let scan = try await Self.scanned("tracks", "id, spotify_popularity, isrc", on: db.connection)
        #expect(state.fingerprint.hasSuffix(":" + scan))
        let after = try await Tracks.snapshot(db.connection)

        // The usual re-apply, reading the input: what the skipping one must report.
        let usual = try await Self.apply(update, AsyncBatches([input]), on: db.connection)
        #expect(usual.stats.changed == 0 && !usual.stats.alreadyApplied)
        let skipped = try await Self.apply(
            Self.recording(update, state: state), UnreadableBatches(), on: db.connection)
        #expect(skipped.stats.alreadyApplied)
        #expect(skipped.summary == usual.summary)
        #expect(skipped.summary?.json == usual.summary?.json)
        #expect(skipped.stats.filled == usual.stats.filled && skipped.stats.filled == [3, 3])
        #expect(skipped.stats.inputRows == usual.stats.inputRows && skipped.stats.matched == usual.stats.matched)
        #expect(skipped.stats.unknownKeys == 1 && skipped.stats.unknownKeySamples == [Tracks.id(9)])
        #expect(skipped.stats.duplicateRows == state.duplicateRows && skipped.stats.unchanged == usual.stats.unchanged)
        #expect(skipped.cells == 0 && skipped.undoRows == 0)
        #expect(try await Tracks.snapshot(db.connection) == after)
    }

    /// Written in stretches as the input is read (``BulkUpdate/writesWhileCopying``), reviewed on
    /// a second connection: the same state as written after the last row, and it skips as well.
    @Test func anInputWrittenAsItIsReadRecordsTheSameState() async throws {
        let rows = CopyAheadTests.rows()
        var states: [BulkUpdate.AppliedState] = []
        for ahead in [false, true] {
            let db = try await CopyAheadTests.scratch()
            let update = Self.recording(CopyAheadTests.update(ahead: ahead))
            let first = try await Self.apply(update, CopyAheadTests.Trickle(rows: rows), on: db.connection)
            #expect((first.stats.writeStatements > 1) == ahead && first.stats.changed > 30)
            let state = try #require(first.stats.appliedState)
            states.append(state)
            let skipped = try await Self.apply(
                Self.recording(update, state: state), UnreadableBatches(), on: db.connection)
            #expect(skipped.stats.alreadyApplied && skipped.stats.matched == 60 && skipped.stats.unknownKeys == 10)
        }
        #expect(states[0] == states[1])
    }

    /// Any change since to a key or a written column (even of a row the input does not name)
    /// gives another fingerprint: the apply then reads its input and writes as usual. A column it
    /// does not write changes nothing.
    @Test func aTableChangedSinceIsAppliedAsUsual() async throws {
        let db = try await Tracks.scratch()
        let update = Tracks.update(concurrent: false)
        let first = try await Self.apply(Self.recording(update), AsyncBatches([Self.input]), on: db.connection)
        let state = try #require(first.stats.appliedState)

        _ = try await db.connection.execute("UPDATE tracks SET title = 'Renamed' WHERE id = '\(Tracks.id(1))'")
        let unwritten = try await Self.apply(
            Self.recording(update, state: state), UnreadableBatches(), on: db.connection)
        #expect(unwritten.stats.alreadyApplied)

        _ = try await db.connection.execute("UPDATE tracks SET isrc = 'ISRC-OTHER' WHERE id = '\(Tracks.id(1))'")
        await #expect(throws: UnreadableBatches.Read.self) {
            _ = try await Self.apply(Self.recording(update, state: state), UnreadableBatches(), on: db.connection)
        }
        let again = try await Self.apply(
            Self.recording(update, state: state), AsyncBatches([Self.input]), on: db.connection)
        #expect(!again.stats.alreadyApplied && again.stats.changed == 1)
        #expect(try await Tracks.row(db.connection, 1) == [10, "ISRC-A2"])
        // Written back as it was: the table is again what the first apply left.
        #expect(again.stats.appliedState == state)

        _ = try await db.connection.execute("UPDATE tracks SET spotify_popularity = 7 WHERE id = '\(Tracks.id(5))'")
        let other = try await Self.apply(
            Self.recording(update, state: state), AsyncBatches([Self.input]), on: db.connection)
        #expect(!other.stats.alreadyApplied && other.stats.changed == 0)
    }

    /// The fingerprint names how each column is written: the same input written with another
    /// `on_empty` is not the apply that left the table so.
    @Test func anotherWayOfWritingIsNotTheSameApply() async throws {
        let db = try await Tracks.scratch()
        let first = try await Self.apply(
            Self.recording(Tracks.update(concurrent: false)), AsyncBatches([Self.input]), on: db.connection)
        let state = try #require(first.stats.appliedState)
        var clearing = Tracks.update(concurrent: false)
        clearing.columns = clearing.columns.map { BulkUpdate.Column($0.name, onEmpty: .clear) }
        let cleared = try await Self.apply(
            Self.recording(clearing, state: state), AsyncBatches([Self.input]), on: db.connection)
        #expect(!cleared.stats.alreadyApplied && cleared.stats.changed == 1)
    }

    /// An upsert's added rows are in the state: its re-apply finds them matched, adds nothing.
    @Test(arguments: [false, true]) func anUpsertReAppliedAddsNothing(concurrent: Bool) async throws {
        let db = try await SideTable.scratch()
        let update = SideTable.write(.upsert, concurrent: concurrent)
        let input = SideTable.batch([
            (1, SideTable.mbid(1), 1000), (2, SideTable.mbid(5), ""), (4, SideTable.mbid(4), 4000), (5, .null, ""),
        ])
        let first = try await Self.apply(Self.recording(update), AsyncBatches([input]), on: db.connection)
        #expect(first.stats.inserted == 2)
        let state = try #require(first.stats.appliedState)
        let scan = try await Self.scanned("track_musicbrainz", "track_id, mbid, length_ms", on: db.connection)
        #expect(state.fingerprint.hasSuffix(":" + scan))
        let usual = try await Self.apply(update, AsyncBatches([input]), on: db.connection)
        #expect(usual.stats.inserted == 0 && usual.stats.changed == 0)
        let skipped = try await Self.apply(
            Self.recording(update, state: state), UnreadableBatches(), on: db.connection)
        #expect(skipped.stats.alreadyApplied && skipped.summary == usual.summary)
        #expect(skipped.stats.filled == usual.stats.filled && skipped.stats.matched == 4)
    }

    /// No state where it could be wrong or cannot be read: a trigger may store other values, an
    /// insert refuses its own rows again, a dry run writes nothing, a type has no hash function.
    @Test func noStateWhereItCouldMislead() async throws {
        let db = try await Tracks.scratch()
        var dry = Self.recording(Tracks.update(concurrent: false))
        dry.dryRun = true
        #expect(try await Self.apply(dry, AsyncBatches([Self.input]), on: db.connection).stats.appliedState == nil)

        _ = try await db.connection.execute(
            """
            CREATE FUNCTION cap() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN NEW.spotify_popularity := least(NEW.spotify_popularity, 30); RETURN NEW; END $$;
            CREATE TRIGGER cap BEFORE UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION cap()
            """)
        let triggered = try await Self.apply(
            Self.recording(Tracks.update(concurrent: false)), AsyncBatches([Self.input]), on: db.connection)
        #expect(triggered.stats.changed == 4 && triggered.stats.appliedState == nil)

        let side = try await SideTable.scratch()
        let inserted = try await Self.apply(
            Self.recording(SideTable.write(.insert)), AsyncBatches([SideTable.batch([(4, .null, 4000)])]),
            on: side.connection)
        #expect(inserted.stats.inserted == 1 && inserted.stats.appliedState == nil)

        let prices = try await Scratch.make(
            schema: "CREATE TABLE prices (id uuid PRIMARY KEY, price money); "
                + "INSERT INTO prices VALUES ('\(Tracks.id(1))', 1.5)")
        let money = try await Self.apply(
            Self.recording(BulkUpdate(table: "prices", key: "id", columns: [.init("price", onEmpty: .keep)])),
            AsyncBatches([Batch(columns: ["id", "price"], rows: [[.string(Tracks.id(1)), "1.75"]])]),
            on: prices.connection)
        #expect(money.stats.changed == 1 && money.stats.appliedState == nil)
        #expect(
            try await prices.connection.execute("SELECT price::numeric::text FROM prices").rows == [["1.75"]])
    }

    /// A table much larger than the input: no scan after the write, no state.
    @Test func noStateForAFewRowsOfALargeTable() async throws {
        let db = try await CopyAheadTests.scratch()
        let rows = Array(CopyAheadTests.rows().prefix(60 / BulkUpdate.appliedStateTableRatio))
        let few = try await Self.apply(
            Self.recording(CopyAheadTests.update(ahead: false)),
            AsyncBatches([Batch(columns: CopyAheadTests.columns, rows: rows)]), on: db.connection)
        #expect(few.stats.changed > 0 && few.stats.appliedState != nil)
        let fewer = try await Self.apply(
            Self.recording(CopyAheadTests.update(ahead: false)),
            AsyncBatches([
                Batch(
                    columns: CopyAheadTests.columns,
                    rows: Array(
                        CopyAheadTests.rows(
                            [1: (99, "NEW")]).prefix(rows.count - 1)))
            ]), on: db.connection)
        #expect(fewer.stats.changed == 1 && fewer.stats.appliedState == nil)
    }

    @Test func theStateReadsBackFromItsJSON() throws {
        let state = BulkUpdate.AppliedState(
            fingerprint: "0123456789abcdef:5:-42", inputRows: 6, duplicateRows: 1, inputCounts: [5, 4, 3],
            unknownKeys: 1, unknownKeySamples: ["k"], emptyOfUnknown: [0, 1])
        #expect(BulkUpdate.AppliedState(json: try JSON.decode(JSON.encode(state.json))) == state)
        #expect(BulkUpdate.AppliedState(json: .object(["fingerprint": "x"])) == nil)
    }
}
