import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

@Suite struct BulkUpdateTests {
    /// 1 same values, 2 new popularity, 3 both new, 4 same.
    static let input = Tracks.batch([
        (1, 10, "ISRC-A"), (2, 21, "ISRC-B"), (3, 30, "ISRC-C"), (4, 40, "ISRC-D"),
    ])

    @Test(arguments: [false, true]) func changesOnlyRowsThatDifferAndReappliesAsNoOp(concurrent: Bool) async throws {
        let db = try await Tracks.scratch()
        let before = try await Tracks.snapshot(db.connection)
        var prior: [Batch] = []
        let stats = try await Tracks.update(concurrent: concurrent).run(on: db.connection, batches: [Self.input]) {
            prior.append($0)
        }
        #expect(stats.inputRows == 4)
        #expect(stats.matched == 4)
        #expect(stats.changed == 2)
        #expect(stats.unchanged == 2)
        #expect(stats.unknownKeys == 0)
        #expect(!stats.dryRun)
        #expect(stats.priorReadConcurrently == concurrent)
        #expect(try await Tracks.row(db.connection, 2) == [21, "ISRC-B"])
        #expect(try await Tracks.row(db.connection, 3) == [30, "ISRC-C"])
        #expect(try await Tracks.row(db.connection, 5) == [50, "ISRC-E"])
        // Only the changed rows' prior values were recorded.
        #expect(
            prior.flatMap(\.rows).sorted { $0[0].text! < $1[0].text! } == [
                [.string(Tracks.id(2)), 20, "ISRC-B", 21, "ISRC-B"], [.string(Tracks.id(3)), nil, nil, 30, "ISRC-C"],
            ])
        #expect(
            prior.first?.columns == [
                "id", "spotify_popularity", "isrc", "expected:spotify_popularity", "expected:isrc",
            ])
        // Untouched columns stay untouched.
        let after = try await Tracks.snapshot(db.connection)
        #expect(after.map { $0[6] } == before.map { $0[6] })

        var priorAgain: [Batch] = []
        let again = try await Tracks.update(concurrent: concurrent).run(on: db.connection, batches: [Self.input]) {
            priorAgain.append($0)
        }
        #expect(again.changed == 0)
        #expect(again.unchanged == 4)
        #expect(priorAgain.isEmpty)
        #expect(try await Tracks.snapshot(db.connection) == after)
    }

    @Test(arguments: [false, true]) func clearSetsNullButKeepLeavesTheTableValue(concurrent: Bool) async throws {
        let db = try await Tracks.scratch()
        // popularity is `keep`, isrc is `clear`; "" counts as empty like NULL.
        let input = Tracks.batch([(1, nil, nil), (2, "", ""), (4, 41, nil)])
        let stats = try await Tracks.update(concurrent: concurrent).run(on: db.connection, batches: [input]) { _ in }
        #expect(stats.changed == 3)
        #expect(try await Tracks.row(db.connection, 1) == [10, nil])
        #expect(try await Tracks.row(db.connection, 2) == [20, nil])
        #expect(try await Tracks.row(db.connection, 4) == [41, nil])
    }

    @Test func identicalDuplicateKeysAreFoldedDifferentOnesFail() async throws {
        let db = try await Tracks.scratch()
        let before = try await Tracks.snapshot(db.connection)
        let identical = Tracks.batch([(2, 22, "X"), (2, 22, "X"), (3, 33, nil)])
        let stats = try await Tracks.update.run(on: db.connection, batches: [identical]) { _ in }
        #expect(stats.inputRows == 3)
        #expect(stats.duplicateRows == 1)
        #expect(stats.matched == 2)
        #expect(stats.changed == 2)
        #expect(stats.unknownKeys == 0)

        _ = try await db.connection.execute("TRUNCATE tracks; " + Tracks.insert)
        let conflicting = Tracks.batch([(2, 22, "X"), (3, 33, nil), (2, 23, "X")])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await Tracks.update.run(on: db.connection, batches: [conflicting]) { _ in }
        }
        #expect(error.reason == .duplicateKeys)
        #expect(error.keys == [Tracks.id(2)])
        #expect(error.description.contains(Tracks.id(2)))
        #expect(try await Tracks.snapshot(db.connection) == before)
    }

    @Test(arguments: [false, true]) func unknownKeysAreCountedAndSampled(concurrent: Bool) async throws {
        let db = try await Tracks.scratch()
        let unknown = ["10000000-0000-4000-8000-000000000001", "10000000-0000-4000-8000-000000000002"]
        var input = Tracks.batch([(2, 25, "ISRC-B")])
        input.rows += unknown.map { [.string($0), 1, "Z"] }
        let stats = try await Tracks.update(concurrent: concurrent).run(on: db.connection, batches: [input]) { _ in }
        #expect(stats.inputRows == 3)
        #expect(stats.matched == 1)
        #expect(stats.changed == 1)
        #expect(stats.unknownKeys == 2)
        #expect(stats.unknownKeySamples == unknown)
        #expect(stats.priorReadConcurrently == concurrent)
    }

    @Test func nonUUIDKeyFailsNamingKeyAndRowAndChangesNothing() async throws {
        let db = try await Tracks.scratch()
        let before = try await Tracks.snapshot(db.connection)
        var input = Tracks.batch([(2, 25, "ISRC-B")])
        input.rows.append(["not-a-uuid", 1, "Z"])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await Tracks.update.run(on: db.connection, batches: [Tracks.batch([(1, 11, nil)]), input]) { _ in }
        }
        #expect(error.reason == .invalidValue)
        #expect(error.key == "not-a-uuid")
        #expect(error.inputRow == 3)
        #expect(error.column == "id")
        #expect(error.description.contains("input row 3, column id (the key)"))
        #expect(error.description.contains("not-a-uuid"))
        #expect(try await Tracks.snapshot(db.connection) == before)
    }

    /// A domain's CHECK refuses the value as it is copied in (the input table has the column's
    /// type): the error names the input row and column, as a value the type refuses does (it
    /// named neither, so a CSV's line was not found).
    @Test func aDomainsCheckFailsNamingTheRowAndChangesNothing() async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE DOMAIN percent AS int CHECK (VALUE BETWEEN 0 AND 100);
                CREATE TABLE ty (id int PRIMARY KEY, p percent);
                INSERT INTO ty VALUES (1, 10), (2, 20), (3, 30)
                """)
        let update = BulkUpdate(table: "ty", key: "id", columns: [.init("p", onEmpty: .keep)])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(
                on: db.connection, batches: [Batch(columns: ["id", "p"], rows: [[1, 11], [2, 140]])]
            ) {
                _ in
            }
        }
        #expect(error.reason == .invalidValue)
        #expect(error.inputRow == 2)
        #expect(error.column == "p")
        #expect(error.key == "2")
        #expect(
            error.description.contains(
                "input row 2 (id 2), column p: value for domain percent violates check constraint"))
        #expect(try await db.connection.execute("SELECT p FROM ty ORDER BY id").rows == [[10], [20], [30]])
    }

    /// A value the column's type refuses as the rows are copied in (too long for a varchar(5))
    /// is named by its row's key as well as its input row (it was the row alone): in a binary
    /// COPY, where such a row follows the others in text, and in a text one (a date column).
    @Test(arguments: ["", ", d date"]) func aValueTheTypeRefusesNamesItsRowsKey(more: String) async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE items (id int PRIMARY KEY, short varchar(5)\(more));
                INSERT INTO items (id, short) SELECT n, 'ab' FROM generate_series(1, 6) AS n
                """)
        let update = BulkUpdate(table: "items", key: "id", columns: [.init("short", onEmpty: .clear)])
        let rows: [[Value]] = [[1, "a"], [3, "b"], [5, "c"], [6, "abcdefgh"], [2, "d"], [4, "ijklmnop"]]
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(on: db.connection, batches: [Batch(columns: ["id", "short"], rows: rows)]) { _ in }
        }
        #expect(error.reason == .invalidValue && error.inputRow == 4 && error.key == "6", "\(error)")
        #expect(
            error.description.hasPrefix(
                "apply to items failed while copying the rows in: input row 4 (id 6), column short: value too long "
                    + "for type character varying(5)"), "\(error)")
        #expect(try await db.connection.execute("SELECT count(*) FROM items WHERE short = 'ab'").rows == [[6]])
    }

    @Test(arguments: [false, true]) func checkViolationFailsNamingKeyAndConstraintAndChangesNothing(
        concurrent: Bool
    ) async throws {
        let db = try await Tracks.scratch()
        let before = try await Tracks.snapshot(db.connection)
        let input = Tracks.batch([(1, 11, "N1"), (3, 140, "ISRC-C"), (4, 44, nil)])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await Tracks.update(concurrent: concurrent).run(on: db.connection, batches: [input]) { _ in }
        }
        #expect(error.reason == .constraintViolation)
        #expect(error.constraint == "tracks_spotify_popularity_check")
        #expect(error.key == Tracks.id(3))
        #expect(error.underlying?.sqlState == "23514")
        #expect(error.description.contains("key \(Tracks.id(3)) (spotify_popularity = 140, isrc = ISRC-C)"))
        #expect(error.description.contains("tracks_spotify_popularity_check"))
        #expect(try await Tracks.snapshot(db.connection) == before)
        // The connection is fine afterwards.
        #expect(try await db.connection.execute("SELECT 1").scalar == .int(1))
    }

    /// A foreign key or a unique index the new values break is traced to the input row like a
    /// CHECK: its key, its values, and the server's words on what is missing or taken.
    @Test(arguments: [false, true]) func foreignKeyAndUniqueViolationsNameTheKey(concurrent: Bool) async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE authors (id int PRIMARY KEY);
                INSERT INTO authors VALUES (1), (2);
                CREATE TABLE editions (lang text, edition int, PRIMARY KEY (lang, edition));
                INSERT INTO editions VALUES ('en', 1), ('fr', 2);
                CREATE TABLE books (id int PRIMARY KEY, author int REFERENCES authors, code text UNIQUE,
                  lang text, edition int, FOREIGN KEY (lang, edition) REFERENCES editions MATCH FULL);
                INSERT INTO books SELECT i, 1, 'c' || i, 'en', 1 FROM generate_series(1, 6) AS i
                """)
        var update = BulkUpdate(
            table: "books", key: "id",
            columns: [.init("author", onEmpty: .clear), .init("code", onEmpty: .clear)])
        update.concurrentPriorReadRows = concurrent ? 1 : nil
        let before = try await db.connection.execute("SELECT * FROM books ORDER BY id").rows
        func refusal(_ rows: [[Value]], _ update: BulkUpdate) async throws -> BulkUpdateError {
            let columns = ["id"] + update.columns.map(\.name)
            return try await #require(throws: BulkUpdateError.self) {
                try await update.run(on: db.connection, batches: [Batch(columns: columns, rows: rows)]) { _ in }
            }
        }

        // Row 2 keeps an author, row 4 names one that is not there; a NULL references nothing.
        let missing = try await refusal([[1, nil, "c1"], [2, 2, "c2"], [4, 7, "c4"], [5, 2, "c5"]], update)
        #expect(missing.reason == .constraintViolation)
        #expect(missing.key == "4")
        #expect(missing.constraint == "books_author_fkey")
        #expect(missing.column == "author")
        #expect(
            missing.message
                == "key 4 (author = 7, code = c4) violates constraint \"books_author_fkey\": Key (author)=(7) is not "
                + "present in table \"authors\"")

        // A code another row holds, one two input rows are given: the first key of either.
        let taken = try await refusal([[2, 1, "c2"], [5, 1, "c3"]], update)
        #expect(taken.key == "5")
        #expect(taken.column == "code")
        #expect(
            taken.message.hasPrefix("key 5 (author = 1, code = c3) violates constraint \"books_code_key\": Key (code)=")
        )
        let twice = try await refusal([[3, 1, "new"], [6, 1, "new"]], update)
        #expect(twice.key == "3")
        #expect(twice.constraint == "books_code_key")

        // MATCH FULL: both columns or neither.
        update.columns = [.init("lang", onEmpty: .clear), .init("edition", onEmpty: .clear)]
        let half = try await refusal([[1, nil, nil], [2, "fr", 2], [3, "fr", nil]], update)
        #expect(half.key == "3")
        #expect(half.constraint == "books_lang_edition_fkey")
        #expect(half.column == "lang")
        #expect(try await db.connection.execute("SELECT * FROM books ORDER BY id").rows == before)
    }

    @Test(arguments: [false, true]) func undoRestoresExactly(concurrent: Bool) async throws {
        let db = try await Tracks.scratch()
        let before = try await Tracks.snapshot(db.connection)
        let input = Tracks.batch([(1, 99, nil), (2, nil, "NEW"), (3, 0, "ISRC-3"), (5, 50, "ISRC-E")])
        var prior: [Batch] = []
        let applied = try await Tracks.update(concurrent: concurrent).run(on: db.connection, batches: [input]) {
            prior.append($0)
        }
        #expect(applied.changed == 3)
        #expect(applied.priorReadConcurrently == concurrent)
        #expect(try await Tracks.snapshot(db.connection) != before)
        let undone = try await Tracks.update.undoing.run(on: db.connection, batches: prior) { _ in }
        #expect(undone.changed == 3)
        #expect(try await Tracks.snapshot(db.connection) == before)
    }

    /// An undo that fails says it is the undo (it read "apply to tracks failed ..." to whoever
    /// ran `sluice undo`), and changes nothing.
    @Test func anUndoThatFailsSaysItIsTheUndo() async throws {
        let db = try await Tracks.scratch()
        var prior: [Batch] = []
        _ = try await Tracks.update.run(on: db.connection, batches: [Tracks.batch([(1, 11, nil)])]) { prior.append($0) }
        let applied = try await Tracks.snapshot(db.connection)
        // Since the apply, the table refuses the value the undo would put back.
        _ = try await db.connection.execute(
            "ALTER TABLE tracks ADD CONSTRAINT no_ten CHECK (spotify_popularity <> 10) NOT VALID")
        let error = try await #require(throws: BulkUpdateError.self) {
            try await Tracks.update.undoing.run(on: db.connection, batches: prior) { _ in }
        }
        #expect(error.isUndo)
        #expect(error.description.hasPrefix("undo of tracks failed while writing the rows: key \(Tracks.id(1))"))
        #expect(try await Tracks.snapshot(db.connection) == applied)
    }

    /// Undo restores only cells still holding what the apply wrote: a cell changed since is a
    /// conflict, left as it is and its row named; the row's other cells are restored.
    @Test(arguments: [false, true]) func undoLeavesCellsChangedSinceTheApply(concurrent: Bool) async throws {
        let db = try await Tracks.scratch()
        let before = try await Tracks.snapshot(db.connection)
        let input = Tracks.batch([(1, 99, nil), (2, 22, "NEW"), (3, 33, "ISRC-3")])
        var prior: [Batch] = []
        #expect(try await Tracks.update.run(on: db.connection, batches: [input]) { prior.append($0) }.changed == 3)
        _ = try await db.connection.execute(
            "UPDATE tracks SET spotify_popularity = 77 WHERE id = $1", [.string(Tracks.id(2))])
        let undone = try await Tracks.update(concurrent: concurrent).undoing.run(on: db.connection, batches: prior) {
            _ in
        }
        #expect(undone.changed == 3)
        #expect(undone.partlyChanged == 1)
        #expect(undone.conflicts == 1)
        #expect(undone.conflictSamples == [Tracks.id(2)])
        #expect(undone.conflictCells == ["spotify_popularity": 1])
        #expect(undone.unchanged == 0)
        #expect(undone.priorReadConcurrently == concurrent)
        #expect(try await Tracks.row(db.connection, 2) == [77, "ISRC-B"])
        let after = try await Tracks.snapshot(db.connection)
        #expect(
            after.enumerated().filter { $0.offset != 1 }.map(\.element)
                == before.enumerated().filter { $0.offset != 1 }.map(\.element))

        // Once the cell is back to what the apply wrote, undo restores it too.
        _ = try await db.connection.execute(
            "UPDATE tracks SET spotify_popularity = 22 WHERE id = $1", [.string(Tracks.id(2))])
        let again = try await Tracks.update.undoing.run(on: db.connection, batches: prior) { _ in }
        #expect(again.changed == 1)
        #expect(again.conflicts == 0)
        #expect(again.unchanged == 2)
        #expect(try await Tracks.snapshot(db.connection) == before)
    }

    /// A cell the apply left as it was (its row changed in another column) is not the apply's:
    /// changed since by someone else, it is no conflict of the undo, which restores the row's
    /// other cells and is complete.
    @Test(arguments: [false, true]) func undoIgnoresCellsTheApplyDidNotChange(concurrent: Bool) async throws {
        let db = try await Tracks.scratch()
        var prior: [Batch] = []
        let input = Tracks.batch([(2, 22, "ISRC-B")])
        #expect(try await Tracks.update.run(on: db.connection, batches: [input]) { prior.append($0) }.changed == 1)
        _ = try await db.connection.execute("UPDATE tracks SET isrc = 'LATER' WHERE id = $1", [.string(Tracks.id(2))])
        let undone = try await Tracks.update(concurrent: concurrent).undoing.run(on: db.connection, batches: prior) {
            _ in
        }
        #expect(undone.changed == 1)
        #expect(undone.conflicts == 0)
        #expect(try await Tracks.row(db.connection, 2) == [20, "LATER"])
    }

    /// Keeping the prior values failed (a full disk, say): the update is cancelled or rolled
    /// back, the table is as before, and the connection is fine for the next apply.
    @Test(arguments: [false, true]) func failingToKeepThePriorValuesChangesNothing(concurrent: Bool) async throws {
        struct DiskFull: Error {}
        let db = try await Tracks.scratch()
        let before = try await Tracks.snapshot(db.connection)
        await #expect(throws: DiskFull.self) {
            try await Tracks.update(concurrent: concurrent).run(on: db.connection, batches: [Self.input]) { _ in
                throw DiskFull()
            }
        }
        #expect(try await Tracks.snapshot(db.connection) == before)
        #expect(
            try await Tracks.update(concurrent: concurrent).run(on: db.connection, batches: [Self.input]) { _ in }
                .changed == 2)
    }

    /// A prior empty string is a value: undo writes back `''`, not NULL.
    @Test func undoRestoresAnEmptyStringExactly() async throws {
        let db = try await Tracks.scratch()
        _ = try await db.connection.execute("UPDATE tracks SET isrc = '' WHERE id = $1", [.string(Tracks.id(4))])
        let before = try await Tracks.snapshot(db.connection)
        var prior: [Batch] = []
        _ = try await Tracks.update.run(on: db.connection, batches: [Tracks.batch([(4, 40, "X")])]) { prior.append($0) }
        #expect(try await Tracks.row(db.connection, 4) == [40, "X"])
        #expect(try await Tracks.update.undoing.run(on: db.connection, batches: prior) { _ in }.changed == 1)
        #expect(try await Tracks.row(db.connection, 4) == [40, ""])
        #expect(try await Tracks.snapshot(db.connection) == before)
    }

    @Test(arguments: [false, true]) func dryRunReportsButChangesNothing(concurrent: Bool) async throws {
        let db = try await Tracks.scratch()
        let before = try await Tracks.snapshot(db.connection)
        var update = Tracks.update(concurrent: concurrent)
        update.dryRun = true
        var prior: [Batch] = []
        let stats = try await update.run(on: db.connection, batches: [Self.input]) { prior.append($0) }
        #expect(stats.dryRun)
        #expect(stats.priorReadConcurrently == concurrent)
        #expect(stats.changed == 2)
        #expect(stats.unchanged == 2)
        #expect(prior.flatMap(\.rows).count == 2)
        #expect(try await Tracks.snapshot(db.connection) == before)
        // No temp table or transaction left behind.
        #expect(try await Tracks.update.run(on: db.connection, batches: [Self.input]) { _ in }.changed == 2)
    }

    @Test func missingInputColumnIsNamed() async throws {
        let db = try await Tracks.scratch()
        let input = Batch(columns: ["id", "isrc"], rows: [[.string(Tracks.id(1)), "X"]])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await Tracks.update.run(on: db.connection, batches: [input]) { _ in }
        }
        #expect(error.reason == .missingColumn)
        #expect(error.column == "spotify_popularity")
    }

    @Test func schemaQualifiedTargetWorks() async throws {
        let db = try await Scratch.make(
            schema: "CREATE SCHEMA music; SET search_path = music; " + TestPostgres.tracksSchema + ";\n" + Tracks.insert
                + "; RESET search_path")
        var update = Tracks.update
        update.table = "music.tracks"
        let stats = try await update.run(on: db.connection, batches: [Self.input]) { _ in }
        #expect(stats.changed == 2)
    }

    /// Plan-supplied table and column names end up in SQL: they stay names, whatever they hold.
    @Test func hostileNamesStayNames() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE x (v int); CREATE TABLE tracks (v int)")
        let update = BulkUpdate(
            table: "tracks\"; DROP TABLE x; --", key: "id", columns: [.init("v; DROP TABLE x", onEmpty: .clear)])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(on: db.connection, batches: []) { _ in }
        }
        #expect(error.underlying?.sqlState == "42P01")
        #expect(try await db.connection.execute("SELECT count(*) FROM x").scalar == .int(0))

        // A name no SQL can hold is refused before anything is sent.
        let cut = BulkUpdate(table: "tracks\0x", key: "id", columns: [.init("v", onEmpty: .clear)])
        let refused = try await #require(throws: BulkUpdateError.self) {
            try await cut.run(on: db.connection, batches: []) { _ in }
        }
        #expect(refused.reason == .invalidConfiguration)
        #expect(refused.message == "an identifier cannot contain a NUL character")
    }

    /// Kills the apply's connection while its COPY is running; the table must be untouched and
    /// a re-run on a new connection must converge.
    @Test func connectionKilledDuringCopyLeavesTableUnchanged() async throws {
        let db = try await Tracks.scratch()
        let before = try await Tracks.snapshot(db.connection)
        let monitor = try await db.connect()
        let pid = Int64(db.connection.backendPID)
        let (stream, continuation) = AsyncStream.makeStream(of: Batch.self)
        let filler = Tracks.batch(Array(repeating: (1, 12, "FILL"), count: 1))
        let big = Batch(columns: filler.columns, rows: Array(repeating: filler.rows[0], count: 5000))
        let producer = Task {
            continuation.yield(Self.input)
            continuation.yield(big)
            _ = try await eventually {
                try await monitor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE 'COPY%'", [.int(pid)]
                ).scalar == .int(1)
            }
            _ = try await monitor.execute("SELECT pg_terminate_backend($1)", [.int(pid)])
            _ = try await eventually {
                try await monitor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [.int(pid)]).scalar
                    == .int(0)
            }
            for _ in 0..<20 { continuation.yield(big) }
            continuation.finish()
        }
        let error = try await #require(throws: BulkUpdateError.self) {
            try await Tracks.update.run(on: db.connection, input: stream) { _ in }
        }
        try await producer.value
        #expect(error.reason == .connectionLost)
        #expect(error.phase == .copy)
        // libpq's words once (they were repeated after "nothing was changed").
        let said = try #require(error.underlying?.message.split(whereSeparator: \.isNewline).first)
        #expect(error.description.components(separatedBy: said).count == 2, "\(error.description)")
        #expect(try await Tracks.snapshot(monitor) == before)

        let retry = try await db.connect()
        #expect(try await Tracks.update.run(on: retry, batches: [Self.input]) { _ in }.changed == 2)
        #expect(try await Tracks.update.run(on: retry, batches: [Self.input]) { _ in }.changed == 0)
    }

    /// Kills the apply's connection while its UPDATE waits on a row lock held by another session.
    @Test(arguments: [false, true]) func connectionKilledDuringUpdateLeavesTableUnchanged(concurrent: Bool) async throws
    {
        let db = try await Tracks.scratch()
        let before = try await Tracks.snapshot(db.connection)
        let locker = try await db.connect()
        let pid = Int64(db.connection.backendPID)
        _ = try await locker.execute("BEGIN")
        _ = try await locker.execute("SELECT * FROM tracks WHERE id = $1 FOR UPDATE", [.string(Tracks.id(3))])
        let connection = db.connection
        let apply = Task {
            try await Tracks.update(concurrent: concurrent).run(on: connection, batches: [Self.input]) { _ in }
        }
        let waiting = try await eventually {
            try await db.server.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock' AND query LIKE 'UPDATE%'",
                [.int(pid)]
            ).scalar == .int(1)
        }
        #expect(waiting)
        _ = try await db.server.execute("SELECT pg_terminate_backend($1)", [.int(pid)])
        let result = await apply.result
        _ = try await locker.execute("ROLLBACK")
        let error = try #require(throws: BulkUpdateError.self) { try result.get() }
        #expect(error.reason == .connectionLost)
        #expect(error.phase == .update)
        #expect(try await Tracks.snapshot(locker) == before)

        let retry = try await db.connect()
        #expect(try await Tracks.update.run(on: retry, batches: [Self.input]) { _ in }.changed == 2)
        #expect(try await Tracks.update.run(on: retry, batches: [Self.input]) { _ in }.changed == 0)
    }
}
