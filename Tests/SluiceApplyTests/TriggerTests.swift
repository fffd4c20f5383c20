import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

/// A row-level BEFORE trigger that stores other values than the apply writes: the apply reads
/// them back, counts and names them, and hands them to `undo`, whose undo then expects them.
@Suite struct TriggerTests {
    /// Caps popularity at 90 and touches `updated_at`, as a business rule would.
    static let cappingTrigger = """
        CREATE FUNCTION tracks_cap() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          NEW.updated_at := now();
          IF NEW.spotify_popularity > 90 THEN NEW.spotify_popularity := 90; END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER tracks_cap BEFORE UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION tracks_cap()
        """

    /// Touches only `updated_at`, a column the apply does not write.
    static let touchingTrigger = """
        CREATE FUNCTION tracks_touch() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
        CREATE TRIGGER tracks_touch BEFORE UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION tracks_touch()
        """

    /// The columns the apply writes, row by row (not `updated_at`, which the triggers touch).
    static func written(_ connection: PostgresConnection) async throws -> [[Value]] {
        try await connection.execute("SELECT id, spotify_popularity, isrc FROM tracks ORDER BY id").rows
    }

    /// 1 and 2 over the cap (2 a new isrc too), 3 under it, 4 kept (empty popularity) and unchanged.
    static let input = Tracks.batch([(1, 95, "ISRC-A"), (2, 99, "NEW-B"), (3, 30, nil), (4, "", "ISRC-D")])

    /// What `undo` received as the undo file reads it back: each row's written values replaced
    /// by what a trigger stored, where it did (``BulkUpdate/storedColumns``).
    static func undoInput(_ records: [Batch], of update: BulkUpdate) -> [Batch] {
        let stored = Dictionary(
            records.filter { $0.columns == update.storedColumns }.flatMap(\.rows).map {
                ($0[0], Array($0.dropFirst()))
            },
            uniquingKeysWith: { first, _ in first })
        let width = update.columns.count
        return records.filter { $0.columns == update.undoColumns }.map { batch in
            Batch(
                columns: batch.columns,
                rows: batch.rows.map { row in
                    guard let values = stored[row[0]] else { return row }
                    var row = row
                    row.replaceSubrange(1 + width..<1 + 2 * width, with: values)
                    return row
                })
        }
    }

    @Test(arguments: [false, true]) func cellsATriggerChangedAreCountedNamedAndUndoneAsTheApplysOwn(
        concurrent: Bool
    ) async throws {
        let db = try await Scratch.make(
            schema: TestPostgres.tracksSchema + ";\n" + Tracks.insert + ";\n" + Self.cappingTrigger)
        let before = try await Self.written(db.connection)
        var records: [Batch] = []
        let update = Tracks.update(concurrent: concurrent)
        let stats = try await update.run(on: db.connection, batches: [Self.input]) { records.append($0) }
        #expect(stats.changed == 3)
        #expect(stats.checkedTriggers)
        #expect(stats.alteredByTrigger == 2)
        #expect(stats.rowsAlteredByTrigger == 2)
        #expect(
            stats.alteredByTriggerSamples == [
                "\(Tracks.id(1)) spotify_popularity 95 -> 90", "\(Tracks.id(2)) spotify_popularity 99 -> 90",
            ])
        #expect(try await Tracks.row(db.connection, 1) == [90, "ISRC-A"])
        #expect(try await Tracks.row(db.connection, 2) == [90, "NEW-B"])
        // What the two rows hold, after every prior value.
        let stored = records.filter { $0.columns == update.storedColumns }
        #expect(records.last?.columns == update.storedColumns)
        #expect(
            stored.flatMap(\.rows) == [[.string(Tracks.id(1)), 90, "ISRC-A"], [.string(Tracks.id(2)), 90, "NEW-B"]])

        let undone = try await update.undoing.run(on: db.connection, batches: Self.undoInput(records, of: update)) {
            _ in
        }
        #expect(undone.conflicts == 0)
        #expect(undone.changed == 3)
        #expect(undone.checkedTriggers)
        #expect(undone.alteredByTrigger == 0, "the prior values are under the cap")
        #expect(
            try await Self.written(db.connection)
                == before)
    }

    /// A trigger that upper-cases isrc, added after rows were written in lower case: the undo
    /// writes the lower-case prior values back, the trigger stores them upper-cased. The undo
    /// counts and names those cells (it used to say every row was restored).
    @Test(arguments: [false, true]) func cellsATriggerRewritesAsTheUndoRestoresThemAreCountedAndNamed(
        concurrent: Bool
    ) async throws {
        let db = try await Scratch.make(
            schema: TestPostgres.tracksSchema + ";\n" + Tracks.insert + ";\n"
                + """
                UPDATE tracks SET isrc = lower(isrc);
                CREATE FUNCTION tracks_upper() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN NEW.isrc := upper(NEW.isrc); RETURN NEW; END $$;
                CREATE TRIGGER tracks_upper BEFORE UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION tracks_upper()
                """)
        var records: [Batch] = []
        let update = Tracks.update(concurrent: concurrent)
        let input = Tracks.batch([(1, 10, "NEW-A"), (2, 25, "NEW-B"), (3, 30, nil)])
        let stats = try await update.run(on: db.connection, batches: [input]) { records.append($0) }
        #expect(stats.changed == 3)
        #expect(stats.alteredByTrigger == 0, "written in upper case already")

        let undone = try await update.undoing.run(on: db.connection, batches: Self.undoInput(records, of: update)) {
            _ in
        }
        #expect(undone.conflicts == 0)
        #expect(undone.changed == 3)
        #expect(undone.alteredByTrigger == 2)
        #expect(undone.rowsAlteredByTrigger == 2)
        #expect(
            undone.alteredByTriggerSamples == [
                "\(Tracks.id(1)) isrc isrc-a -> ISRC-A", "\(Tracks.id(2)) isrc isrc-b -> ISRC-B",
            ])
        #expect(try await Tracks.row(db.connection, 2) == [20, "ISRC-B"])
        #expect(try await Tracks.row(db.connection, 3) == [.null, .null])
    }

    /// A trigger that keeps a value from being written (returns NULL for a legacy one): the
    /// apply writes the row; its undo cannot write the legacy value back, and counts that row as
    /// kept from being written, not as one that held its prior value.
    @Test func aRowATriggerKeepsFromBeingRestoredIsCountedAsSkipped() async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE sk (id int PRIMARY KEY, v text);
                INSERT INTO sk VALUES (1, 'legacy'), (2, 'b');
                CREATE FUNCTION no_legacy() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF NEW.v = 'legacy' THEN RETURN NULL; END IF; RETURN NEW; END $$;
                CREATE TRIGGER no_legacy BEFORE UPDATE ON sk FOR EACH ROW EXECUTE FUNCTION no_legacy()
                """)
        let update = BulkUpdate(table: "sk", key: "id", columns: [.init("v", onEmpty: .keep)])
        var records: [Batch] = []
        let input = Batch(columns: ["id", "v"], rows: [[1, "modern"], [2, "c"]])
        let stats = try await update.run(on: db.connection, batches: [input]) { records.append($0) }
        #expect(stats.changed == 2 && stats.rowsSkippedByTrigger == 0 && stats.alteredByTrigger == 0)

        let undone = try await update.undoing.run(on: db.connection, batches: records) { _ in }
        #expect(undone.changed == 1)
        #expect(undone.rowsSkippedByTrigger == 1)
        #expect(undone.alteredByTrigger == 1)
        #expect(undone.alteredByTriggerSamples == ["1 v legacy -> modern"])
        #expect(
            try await db.connection.execute("SELECT id, v FROM sk ORDER BY id").rows == [[1, "modern"], [2, "b"]])
    }

    /// A trigger that writes only a column the apply does not write stores what was written:
    /// nothing to report, and undo restores every row.
    @Test func aTriggerTouchingAnotherColumnIsNotReported() async throws {
        let db = try await Scratch.make(
            schema: TestPostgres.tracksSchema + ";\n" + Tracks.insert + ";\n" + Self.touchingTrigger)
        let before = try await Self.written(db.connection)
        var records: [Batch] = []
        let update = Tracks.update
        let stats = try await update.run(on: db.connection, batches: [Self.input]) { records.append($0) }
        #expect(stats.changed == 3)
        #expect(stats.checkedTriggers)
        #expect(stats.alteredByTrigger == 0)
        #expect(stats.alteredByTriggerSamples.isEmpty)
        #expect(records.allSatisfy { $0.columns == update.undoColumns })
        let undone = try await update.undoing.run(on: db.connection, batches: records) { _ in }
        #expect(undone.conflicts == 0)
        #expect(
            try await Self.written(db.connection)
                == before)
    }

    /// An upsert fires BEFORE INSERT triggers for the rows it adds: a capped added row is still
    /// the apply's, so its undo deletes it; the capped updated row gets its prior value back.
    @Test func anUpsertsRowsCappedOnInsertAreDeletedByItsUndo() async throws {
        let db = try await Scratch.make(
            schema: SideTable.schema
                + """
                ;
                CREATE FUNCTION cap_length() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN NEW.length_ms := least(NEW.length_ms, 5000); RETURN NEW; END $$;
                CREATE TRIGGER cap_length BEFORE INSERT OR UPDATE ON track_musicbrainz
                FOR EACH ROW EXECUTE FUNCTION cap_length()
                """)
        let before = try await SideTable.snapshot(db.connection)
        let update = SideTable.write(.upsert)
        var records: [Batch] = []
        let input = SideTable.batch([(2, SideTable.mbid(2), 9000), (4, SideTable.mbid(4), 7000)])
        let stats = try await update.run(on: db.connection, batches: [input]) { records.append($0) }
        #expect(stats.changed == 1 && stats.inserted == 1)
        #expect(stats.alteredByTrigger == 2)
        #expect(
            stats.alteredByTriggerSamples == [
                "\(SideTable.id(2)) length_ms 9000 -> 5000", "\(SideTable.id(4)) length_ms 7000 -> 5000",
            ])
        let undone = try await update.undoing.run(on: db.connection, batches: Self.undoInput(records, of: update)) {
            _ in
        }
        #expect(undone.conflicts == 0)
        #expect(undone.deleted == 1)
        #expect(try await SideTable.snapshot(db.connection) == before)
    }

    /// A table without such a trigger (a disabled one, an AFTER one) is not read back.
    @Test func aDisabledOrAfterTriggerIsNotReadBack() async throws {
        let db = try await Scratch.make(
            schema: TestPostgres.tracksSchema + ";\n" + Tracks.insert + ";\n" + Self.cappingTrigger
                + """
                ;
                ALTER TABLE tracks DISABLE TRIGGER tracks_cap;
                CREATE TRIGGER tracks_after AFTER UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION tracks_cap()
                """)
        let stats = try await Tracks.update.run(on: db.connection, batches: [Self.input]) { _ in }
        #expect(stats.changed == 3)
        #expect(!stats.checkedTriggers)
        #expect(try await Tracks.row(db.connection, 2) == [99, "NEW-B"])
    }
}

extension TriggerTests {
    /// The review at the gate (and inside an apply) names the triggers that may store other
    /// values than it shows (enabled, row-level, BEFORE the write); a table with none says
    /// nothing of them.
    @Test func theReviewNamesTheTriggersThatMayStoreOtherValues() async throws {
        let db = try await Scratch.make(
            schema: TestPostgres.tracksSchema + ";\n" + Tracks.insert + ";\n" + Self.cappingTrigger + ";\n"
                + Self.touchingTrigger
                    + """
                    ;
                    CREATE TRIGGER tracks_after AFTER UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION tracks_cap();
                    CREATE TRIGGER tracks_off BEFORE UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION tracks_cap();
                    ALTER TABLE tracks DISABLE TRIGGER tracks_off
                    """)
        let summary = try await Tracks.update.review(on: db.connection, input: AsyncBatches([Self.input])) { _ in }
        #expect(summary.triggers == ["tracks_cap", "tracks_touch"])
        #expect(
            summary.text.contains(
                "note: tracks has row-level triggers BEFORE UPDATE (tracks_cap, tracks_touch) that may store other values"
            ),
            "\(summary.text)")
        #expect(ReviewSummary(json: summary.json)?.triggers == summary.triggers)
        // The review an apply approved up front makes inside its transaction records them too.
        var inline: [ReviewSummary] = []
        let review = BulkUpdate.InlineReview(cells: { _ in }) { summary, _ in inline.append(summary) }
        _ = try await Tracks.update.run(on: db.connection, input: AsyncBatches([Self.input]), review: review) { _ in }
        #expect(inline.map(\.triggers) == [["tracks_cap", "tracks_touch"]])
        _ = try await db.connection.execute("DROP TRIGGER tracks_cap ON tracks; DROP TRIGGER tracks_touch ON tracks")
        let none = try await Tracks.update.review(on: db.connection, input: AsyncBatches([Self.input])) { _ in }
        #expect(none.triggers.isEmpty && !none.text.contains("note:"), "\(none.text)")
    }

    /// Written as the rows are read, in several statements, or after the last row: the cells
    /// capped by every statement are found, the same either way.
    @Test func cellsCappedWhileWritingAsTheRowsAreReadAreAllFound() async throws {
        // The table's rows whose new popularity (n * 7 % 101, kept for every third) is over 90.
        let capped = (1...60).filter { $0 % 3 != 0 && $0 * 7 % 101 > 90 }.map { CopyAheadTests.id($0) }
        for ahead in [false, true] {
            let db = try await CopyAheadTests.scratch(then: Self.cappingTrigger)
            let update = CopyAheadTests.update(ahead: ahead)
            var stored: [[Value]] = []
            let review = BulkUpdate.InlineReview(cells: { _ in }) { _, _ in }
            let stats = try await update.run(
                on: db.connection, input: CopyAheadTests.Trickle(rows: CopyAheadTests.rows()), review: review
            ) { batch in
                if batch.columns == update.storedColumns { stored += batch.rows }
            }
            #expect(stats.writeStatements > 1 || !ahead)
            #expect(stats.alteredByTrigger == capped.count, "ahead: \(ahead)")
            #expect(stored.compactMap { $0[0].text } == capped, "ahead: \(ahead)")
            #expect(stored.allSatisfy { $0[1] == 90 })
        }
    }
}
