import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

/// `mode: upsert` and `mode: insert` into a side table, and their undo.
@Suite struct BulkUpdateModeTests {
    static let undoColumns = [
        "track_id", "mbid", "length_ms", "expected:mbid", "expected:length_ms", "sluice:inserted",
    ]

    /// 1 unchanged, 2 a new mbid, 4 and 5 new keys (5 with empty values).
    static let input = SideTable.batch([
        (1, SideTable.mbid(1), 1000), (2, SideTable.mbid(5), 2000), (4, SideTable.mbid(4), 4000), (5, nil, ""),
    ])

    static func sorted(_ batches: [Batch]) -> [[Value]] {
        batches.flatMap(\.rows).sorted { $0[0].text! < $1[0].text! }
    }

    @Test(arguments: [false, true]) func upsertInsertsNewKeysUpdatesChangedRowsAndReappliesAsNoOp(
        concurrent: Bool
    ) async throws {
        let db = try await SideTable.scratch()
        var records: [Batch] = []
        let update = SideTable.write(.upsert, concurrent: concurrent)
        let stats = try await update.run(on: db.connection, batches: [Self.input]) { records.append($0) }
        #expect(stats.inputRows == 4)
        #expect(stats.matched == 2)
        #expect(stats.changed == 1)
        #expect(stats.unchanged == 1)
        #expect(stats.inserted == 2)
        #expect(stats.unknownKeys == 0)
        #expect(stats.priorReadConcurrently == concurrent)
        #expect(
            try await SideTable.snapshot(db.connection) == [
                SideTable.row(1, SideTable.mbid(1), 1000), SideTable.row(2, SideTable.mbid(5), 2000),
                SideTable.row(3, nil, 3000), SideTable.row(4, SideTable.mbid(4), 4000), SideTable.row(5, nil, nil),
            ])
        // The updated row's prior values, and the rows added, flagged, with no prior values.
        #expect(records.allSatisfy { $0.columns == Self.undoColumns })
        #expect(
            Self.sorted(records) == [
                SideTable.row(2, SideTable.mbid(2), 2000) + [SideTable.mbid(5), 2000, false],
                SideTable.row(4, nil, nil) + [SideTable.mbid(4), 4000, true],
                SideTable.row(5, nil, nil) + [nil, nil, true],
            ])

        let after = try await SideTable.snapshot(db.connection)
        var again: [Batch] = []
        let reapplied = try await update.run(on: db.connection, batches: [Self.input]) { again.append($0) }
        #expect(reapplied.matched == 4)
        #expect(reapplied.changed == 0)
        #expect(reapplied.inserted == 0)
        #expect(reapplied.unchanged == 4)
        #expect(again.isEmpty)
        #expect(try await SideTable.snapshot(db.connection) == after)
    }

    /// `clear` writes NULL for an empty value and `keep` leaves the table's value on an existing
    /// row; a new row has no value to keep, so it gets NULL either way.
    @Test func onEmptyKeepAndClearOnExistingAndNewRows() async throws {
        let db = try await SideTable.scratch()
        let input = SideTable.batch([(1, "", ""), (3, SideTable.mbid(3), nil), (6, "", ""), (7, nil, 700)])
        let stats = try await SideTable.write(.upsert).run(on: db.connection, batches: [input]) { _ in }
        #expect(stats.changed == 2)
        #expect(stats.inserted == 2)
        let rows = try await SideTable.snapshot(db.connection)
        #expect(rows[0] == SideTable.row(1, nil, 1000))  // mbid cleared, length kept
        #expect(rows[2] == SideTable.row(3, SideTable.mbid(3), 3000))
        #expect(rows[3] == SideTable.row(6, nil, nil))
        #expect(rows[4] == SideTable.row(7, nil, 700))
    }

    /// A NOT NULL column whose empty cell keeps the table's value: an existing row keeps it (the
    /// upsert proposed a NULL, which the server refused before it found the conflict: the whole
    /// apply failed, naming no row); a new row with it empty is refused, named by its key.
    @Test func aKeptNotNullCellOfAnExistingRowIsNoNullTheServerRefuses() async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE items (id text PRIMARY KEY, name text NOT NULL DEFAULT 'x', qty int);
                INSERT INTO items VALUES ('a', 'Apple', 1)
                """)
        var update = BulkUpdate(
            table: "items", key: "id", columns: [.init("name", onEmpty: .keep), .init("qty", onEmpty: .clear)])
        update.mode = .upsert
        let columns = ["id", "name", "qty"]
        let stats = try await update.run(
            on: db.connection, batches: [Batch(columns: columns, rows: [["a", "", 5], ["b", "Banana", 2]])]
        ) { _ in }
        #expect(stats.changed == 1 && stats.inserted == 1)
        let table = "SELECT id, name, qty::text FROM items ORDER BY id"
        let after = try await db.connection.execute(table).rows
        #expect(after == [["a", "Apple", "5"], ["b", "Banana", "2"]])

        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(
                on: db.connection, batches: [Batch(columns: columns, rows: [["a", "", 6], ["c", "", 1]])]
            ) { _ in }
        }
        #expect(error.key == "c", "\(error.message)")
        #expect(error.message.hasPrefix("key c (name = NULL, qty = 1) violates NOT NULL on name"), "\(error.message)")
        #expect(try await db.connection.execute(table).rows == after)
    }

    @Test(arguments: [BulkUpdate.Mode.upsert, .insert]) func dryRunReportsButChangesNothing(
        mode: BulkUpdate.Mode
    ) async throws {
        let db = try await SideTable.scratch()
        let before = try await SideTable.snapshot(db.connection)
        var update = SideTable.write(mode)
        update.dryRun = true
        let input = mode == .upsert ? Self.input : SideTable.batch([(4, SideTable.mbid(4), 4000), (5, nil, nil)])
        var records: [Batch] = []
        let stats = try await update.run(on: db.connection, batches: [input]) { records.append($0) }
        #expect(stats.dryRun)
        #expect(stats.changed == (mode == .upsert ? 1 : 0))
        #expect(stats.inserted == 2)
        #expect(records.flatMap(\.rows).count == (mode == .upsert ? 3 : 2))
        #expect(try await SideTable.snapshot(db.connection) == before)
        // No temp table or transaction left behind.
        update.dryRun = false
        #expect(try await update.run(on: db.connection, batches: [input]) { _ in }.inserted == 2)
    }

    @Test(arguments: [false, true]) func undoOfAnUpsertRestoresUpdatedRowsAndDeletesInsertedOnes(
        concurrent: Bool
    ) async throws {
        let db = try await SideTable.scratch()
        let before = try await SideTable.snapshot(db.connection)
        let input = SideTable.batch([
            (1, SideTable.mbid(1), 1111), (2, "", 2000), (3, nil, 3000), (4, SideTable.mbid(4), 4000), (5, nil, nil),
        ])
        var records: [Batch] = []
        let update = SideTable.write(.upsert, concurrent: concurrent)
        let applied = try await update.run(on: db.connection, batches: [input]) { records.append($0) }
        #expect(applied.changed == 2)
        #expect(applied.inserted == 2)
        #expect(try await SideTable.snapshot(db.connection) != before)

        let undo = update.undoing
        #expect(undo.inputColumns == Self.undoColumns)
        let undone = try await undo.run(on: db.connection, batches: records) { _ in }
        #expect(undone.changed == 2)
        #expect(undone.deleted == 2)
        #expect(undone.conflicts == 0)
        #expect(undone.priorReadConcurrently == concurrent)
        #expect(try await SideTable.snapshot(db.connection) == before)

        // Again: the updated rows already hold their prior values, the added ones are gone.
        let again = try await undo.run(on: db.connection, batches: records) { _ in }
        #expect(again.changed == 0)
        #expect(again.deleted == 0)
        #expect(again.unchanged == 2)
        #expect(again.unknownKeys == 2)
        #expect(try await SideTable.snapshot(db.connection) == before)
    }

    /// A row the upsert added in which someone since wrote a column the apply does not write
    /// (a note) is not deleted by the undo, and named; one with only its defaults is deleted.
    @Test func undoKeepsAnAddedRowSomeoneWroteInSince() async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE track_musicbrainz (
                    track_id uuid PRIMARY KEY, mbid uuid, length_ms int, note text, added timestamptz DEFAULT now()
                )
                """)
        var records: [Batch] = []
        let update = SideTable.write(.upsert)
        let input = SideTable.batch([(1, SideTable.mbid(1), 1000), (2, SideTable.mbid(2), 2000)])
        _ = try await update.run(on: db.connection, batches: [input]) { records.append($0) }
        _ = try await db.connection.execute(
            "UPDATE track_musicbrainz SET note = 'checked by alice' WHERE track_id = $1", [.string(SideTable.id(1))])

        let undone = try await update.undoing.run(on: db.connection, batches: records) { _ in }
        #expect(undone.deleted == 1)
        #expect(undone.conflicts == 1)
        #expect(undone.conflictSamples == [SideTable.id(1)])
        #expect(undone.conflictCells == [BulkUpdate.unwrittenCells: 1])
        let left = try await db.connection.execute("SELECT track_id::text, note FROM track_musicbrainz").rows
        #expect(left == [[.string(SideTable.id(1)), "checked by alice"]])
    }

    /// A cell of an updated row that someone changed after the upsert, where the upsert wrote
    /// the value it held (not its change), is no conflict: the row's changed cell is restored;
    /// an added row someone changed is not deleted, and named.
    @Test(arguments: [false, true]) func undoLeavesCellsChangedSinceTheUpsert(concurrent: Bool) async throws {
        let db = try await SideTable.scratch()
        var records: [Batch] = []
        let update = SideTable.write(.upsert, concurrent: concurrent)
        _ = try await update.run(on: db.connection, batches: [Self.input]) { records.append($0) }
        _ = try await db.connection.execute(
            "UPDATE track_musicbrainz SET length_ms = 2222 WHERE track_id = $1", [.string(SideTable.id(2))])
        _ = try await db.connection.execute(
            "UPDATE track_musicbrainz SET mbid = $2 WHERE track_id = $1", [.string(SideTable.id(4)), SideTable.mbid(9)])

        let undone = try await update.undoing.run(on: db.connection, batches: records) { _ in }
        #expect(undone.changed == 1)
        #expect(undone.partlyChanged == 0)
        #expect(undone.deleted == 1)
        #expect(undone.conflicts == 1)
        #expect(undone.conflictSamples == [SideTable.id(4)])
        #expect(undone.conflictCells == ["mbid": 1])
        #expect(
            try await SideTable.snapshot(db.connection) == [
                SideTable.row(1, SideTable.mbid(1), 1000), SideTable.row(2, SideTable.mbid(2), 2222),
                SideTable.row(3, nil, 3000), SideTable.row(4, SideTable.mbid(9), 4000),
            ])

        // Once the added row holds what the upsert wrote again, undo deletes it.
        _ = try await db.connection.execute(
            "UPDATE track_musicbrainz SET mbid = $2 WHERE track_id = $1", [.string(SideTable.id(4)), SideTable.mbid(4)])
        let again = try await update.undoing.run(on: db.connection, batches: records) { _ in }
        #expect(again.changed == 0)
        #expect(again.deleted == 1)
        #expect(again.conflicts == 0)
        #expect(again.conflictCells.isEmpty)
        #expect(try await SideTable.snapshot(db.connection).count == 3)
    }

    @Test(arguments: [false, true]) func insertAddsEveryRowAndUndoDeletesThem(concurrent: Bool) async throws {
        let db = try await SideTable.scratch()
        let before = try await SideTable.snapshot(db.connection)
        var records: [Batch] = []
        let update = SideTable.write(.insert, concurrent: concurrent)
        let input = SideTable.batch([(4, SideTable.mbid(4), 4000), (5, "", nil)])
        let stats = try await update.run(on: db.connection, batches: [input]) { records.append($0) }
        #expect(stats.inserted == 2)
        #expect(stats.matched == 0)
        #expect(stats.changed == 0)
        #expect(stats.priorReadConcurrently == concurrent)
        #expect(
            Self.sorted(records) == [
                SideTable.row(4, nil, nil) + [SideTable.mbid(4), 4000, true],
                SideTable.row(5, nil, nil) + [nil, nil, true],
            ])
        #expect(try await SideTable.snapshot(db.connection).count == 5)

        let undone = try await update.undoing.run(on: db.connection, batches: records) { _ in }
        #expect(undone.deleted == 2)
        #expect(undone.changed == 0)
        #expect(try await SideTable.snapshot(db.connection) == before)
    }

    /// An insert adds rows, it does not change them: a key already in the table fails the
    /// insert, naming the key, whether or not the table has a unique constraint on it.
    @Test(arguments: ["track_musicbrainz", "track_notes"]) func insertOfAnExistingKeyFailsAndChangesNothing(
        table: String
    ) async throws {
        let db = try await SideTable.scratch()
        _ = try await db.connection.execute(
            "CREATE TABLE track_notes (track_id uuid, mbid uuid, length_ms int); "
                + "INSERT INTO track_notes SELECT * FROM track_musicbrainz")
        var update = SideTable.write(.insert)
        update.table = table
        let before = try await db.connection.execute("SELECT * FROM \(table) ORDER BY 1").rows
        let input = SideTable.batch([(4, SideTable.mbid(4), 4000), (2, SideTable.mbid(2), 2000), (6, nil, 6)])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(on: db.connection, batches: [input]) { _ in }
        }
        #expect(error.reason == .existingKeys)
        #expect(error.keys == [SideTable.id(2)])
        #expect(error.key == SideTable.id(2))
        #expect(error.changedNothing)
        #expect(
            error.description.contains("1 track_id value(s) of the input are already in \(table): \(SideTable.id(2))"))
        #expect(try await db.connection.execute("SELECT * FROM \(table) ORDER BY 1").rows == before)
    }

    /// `ON CONFLICT (key)` needs a unique index on the key alone: without one the upsert fails
    /// before the input is copied, saying what the table needs.
    @Test(arguments: [
        "CREATE TABLE side (track_id uuid, mbid uuid, length_ms int)",
        "CREATE TABLE side (track_id uuid, mbid uuid, length_ms int); CREATE INDEX ON side (track_id)",
        "CREATE TABLE side (track_id uuid, mbid uuid, length_ms int, UNIQUE (track_id, mbid))",
    ]) func upsertWithoutAUniqueKeyFailsNamingTableAndKey(schema: String) async throws {
        let db = try await Scratch.make(schema: schema)
        var update = SideTable.write(.upsert)
        update.table = "side"
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(on: db.connection, batches: [Self.input]) { _ in }
        }
        #expect(error.reason == .noUniqueKey)
        #expect(error.phase == .prepare)
        #expect(error.underlying?.sqlState == "42P10")
        #expect(
            error.description.contains("side needs a primary key or unique constraint on track_id for mode: upsert"))
        #expect(try await db.connection.execute("SELECT count(*) FROM side").scalar == .int(0))

        // A unique index is enough.
        _ = try await db.connection.execute("CREATE UNIQUE INDEX ON side (track_id)")
        #expect(try await update.run(on: db.connection, batches: [Self.input]) { _ in }.inserted == 4)
    }

    /// A row an upsert or insert adds holds the key and the written columns only: a column that
    /// must hold a value and has no default would refuse it, and, for an upsert, every row (the
    /// server checks the proposed row before it finds the conflict), even one whose key is in
    /// the table. The apply and its review both fail before the input is copied, naming the
    /// column; a default, an identity or a generated column is fine.
    @Test(arguments: [BulkUpdate.Mode.upsert, .insert]) func aRequiredColumnTheApplyDoesNotWriteFailsBeforeCopying(
        mode: BulkUpdate.Mode
    ) async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE side (
                    track_id uuid PRIMARY KEY, mbid uuid, length_ms int, source text NOT NULL, note text NOT NULL,
                    added timestamptz NOT NULL DEFAULT now(), serial int GENERATED ALWAYS AS IDENTITY,
                    doubled int GENERATED ALWAYS AS (length_ms * 2) STORED
                )
                """)
        var update = SideTable.write(mode)
        update.table = "side"
        // Keys already in the table: an upsert would only update them, and is refused all the same.
        _ = try await db.connection.execute(
            "INSERT INTO side (track_id, source, note) VALUES ('\(SideTable.id(1))', 's', 'n')")
        let input =
            mode == .upsert
            ? SideTable.batch([(1, SideTable.mbid(1), 1000)])
            : SideTable.batch([(4, SideTable.mbid(4), 4000), (5, nil, nil)])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(on: db.connection, batches: [input]) { _ in }
        }
        #expect(error.reason == .invalidConfiguration)
        #expect(error.phase == .prepare)
        #expect(
            error.message.contains(
                "mode: \(mode.rawValue) adds rows holding only track_id and the columns this apply writes, but "
                    + "side needs a value in columns 'source', 'note' (NOT NULL, no default)"), "\(error.message)")
        let reviewError = try await #require(throws: BulkUpdateError.self) {
            try await update.review(on: db.connection, input: AsyncBatches([input])) { _ in }
        }
        #expect(reviewError.message == error.message)
        #expect(try await db.connection.execute("SELECT count(*), count(mbid) FROM side").rows == [[.int(1), .int(0)]])

        // Given defaults, the same apply adds (or updates) its rows.
        _ = try await db.connection.execute(
            "ALTER TABLE side ALTER COLUMN source SET DEFAULT 'sluice', ALTER COLUMN note SET DEFAULT ''")
        let stats = try await update.run(on: db.connection, batches: [input]) { _ in }
        #expect(stats.inserted + stats.changed == (mode == .upsert ? 1 : 2))
    }

    /// A new row breaking a CHECK is found and named, like an updated one.
    @Test(arguments: [BulkUpdate.Mode.upsert, .insert]) func checkViolationOfANewRowNamesItsKey(
        mode: BulkUpdate.Mode
    ) async throws {
        let db = try await SideTable.scratch()
        let before = try await SideTable.snapshot(db.connection)
        let input = SideTable.batch([(5, SideTable.mbid(5), 5000), (4, SideTable.mbid(4), -5)])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await SideTable.write(mode).run(on: db.connection, batches: [input]) { _ in }
        }
        #expect(error.reason == .constraintViolation)
        #expect(error.constraint == "track_musicbrainz_length_ms_check")
        #expect(error.key == SideTable.id(4))
        #expect(
            error.description.contains("key \(SideTable.id(4)) (mbid = \(SideTable.mbid(4).text!), length_ms = -5)"))
        #expect(try await SideTable.snapshot(db.connection) == before)
    }

    @Test func upsertFoldsIdenticalDuplicatesAndRefusesDifferentOnes() async throws {
        let db = try await SideTable.scratch()
        let before = try await SideTable.snapshot(db.connection)
        let conflicting = SideTable.batch([(4, SideTable.mbid(4), 4000), (4, SideTable.mbid(4), 4001)])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await SideTable.write(.upsert).run(on: db.connection, batches: [conflicting]) { _ in }
        }
        #expect(error.reason == .duplicateKeys)
        #expect(error.keys == [SideTable.id(4)])
        #expect(try await SideTable.snapshot(db.connection) == before)

        let identical = SideTable.batch([(4, SideTable.mbid(4), 4000), (4, SideTable.mbid(4), 4000)])
        let stats = try await SideTable.write(.upsert).run(on: db.connection, batches: [identical]) { _ in }
        #expect(stats.duplicateRows == 1)
        #expect(stats.inserted == 1)
    }
}
