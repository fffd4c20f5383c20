import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

/// The review of an apply (what would change, cell by cell, read in one read-only snapshot) and
/// the apply held to it (only the reviewed changes; rows changed since are drifted).
@Suite struct BulkUpdateReviewTests {
    /// Against the fixture (popularity 10, 20, NULL, 40, 50 kept when empty; isrc A, B, NULL, D, E
    /// cleared when empty): every kind of change, a kept value, an unknown key, a duplicate row.
    static let input = Tracks.batch([
        (1, 10, "ISRC-A2"),  // popularity unchanged; isrc A → A2: update
        (2, "", ""),  // popularity kept (on_empty: keep); isrc B → empty: clear
        (3, 33, "ISRC-C"),  // NULL → 33 and NULL → C: fill, fill
        (4, 45, "ISRC-D"),  // popularity 40 → 45: update; isrc unchanged
        (9, 90, "ISRC-X"),  // not in the table: unknown key
        (1, 10, "ISRC-A2"),  // the first row again, exactly: a duplicate, counted once
    ])

    static func review(
        _ update: BulkUpdate, _ batches: [Batch], on connection: PostgresConnection
    ) async throws -> (ReviewSummary, [[String]]) {
        var cells: [[String]] = []
        let summary = try await update.review(on: connection, input: AsyncBatches(batches)) { batch in
            #expect(batch.batch.columns == BulkUpdate.reviewColumns)
            cells += batch.batch.rows.map { $0.map { $0.text ?? "" } }
            // The page shows an empty text as "", NULL as nothing.
            #expect(
                batch.batch.rows.map { $0.map { $0.text.map { $0.isEmpty ? "\"\"" : $0 } ?? "" } }
                    == (0..<batch.count).map(batch.texts))
        }
        return (summary, cells.sorted { ($0[0], $0[1]) < ($1[0], $1[1]) })
    }

    @Test func countsEveryKindOfChangeAndChangesNothing() async throws {
        let db = try await Tracks.scratch()
        let before = try await Tracks.snapshot(db.connection)
        let (summary, cells) = try await Self.review(Tracks.update, [Self.input], on: db.connection)

        #expect(try await Tracks.snapshot(db.connection) == before)
        #expect(
            cells == [
                [Tracks.id(1), "isrc", "ISRC-A", "ISRC-A2", "update"],
                [Tracks.id(2), "isrc", "ISRC-B", "", "clear"],
                [Tracks.id(3), "isrc", "", "ISRC-C", "fill"],
                [Tracks.id(3), "spotify_popularity", "", "33", "fill"],
                [Tracks.id(4), "spotify_popularity", "40", "45", "update"],
            ])
        #expect(summary.inputRows == 6)
        #expect(summary.duplicateRows == 1)
        #expect(summary.matched == 4)
        #expect(summary.changedRows == 4)
        #expect(summary.insertedRows == 0)
        #expect(summary.unknownKeys == 1)
        #expect(summary.unknownKeySamples == [Tracks.id(9)])
        #expect(summary.tableRows == 5)
        let popularity = try #require(summary.columns.first { $0.name == "spotify_popularity" })
        #expect(popularity.numeric)
        #expect([popularity.fill, popularity.update, popularity.clear, popularity.insert] == [1, 1, 0, 0])
        #expect(popularity.unchanged == 2)
        #expect(popularity.kept == 1)
        #expect(popularity.valuesBefore == 4)
        #expect(popularity.valuesAfter == 5)
        #expect(popularity.old?.min == 40 && popularity.old?.max == 40)
        #expect(popularity.new?.min == 33 && popularity.new?.median == 39 && popularity.new?.max == 45)
        #expect(popularity.delta?.count == 1 && popularity.delta?.max == 5)
        let isrc = try #require(summary.columns.first { $0.name == "isrc" })
        #expect(!isrc.numeric)
        #expect([isrc.fill, isrc.update, isrc.clear, isrc.insert] == [1, 1, 1, 0])
        #expect(isrc.unchanged == 1)
        #expect(isrc.kept == 0)
        #expect(isrc.valuesAfter == 4)
        // The summary survives the manifest.
        #expect(ReviewSummary(json: summary.json) == summary)
        // The session's input table is gone: the connection can review again.
        let (again, _) = try await Self.review(Tracks.update, [Self.input], on: db.connection)
        #expect(again == summary)
    }

    /// An empty value kept (on_empty: keep) counts for rows in the table only: an unknown key
    /// with an empty input keeps nothing.
    @Test func onlyMatchedRowsKeepTheirValue() async throws {
        let db = try await Tracks.scratch()
        let input = Tracks.batch([(2, "", "ISRC-B"), (9, "", "ISRC-X"), (8, 80, "")])
        let (summary, _) = try await Self.review(Tracks.update, [input], on: db.connection)
        #expect(summary.matched == 1 && summary.unknownKeys == 2)
        #expect(summary.columns.first { $0.name == "spotify_popularity" }?.kept == 1)
        #expect(summary.columns.first { $0.name == "isrc" }?.kept == 0)
    }

    /// The summary's numbers: whole numbers as integers, cents below 1e15, and past it the
    /// double as it is (not `inf` for the largest double, nor invented cents).
    @Test func summaryNumbersAreNeverInfinityForAFiniteValue() {
        #expect(ReviewSummary.format(42) == "42")
        #expect(ReviewSummary.format(0.30000000000000004) == "0.3")
        #expect(ReviewSummary.format(1.7976931348623157e308) == JSON.format(1.7976931348623157e308))
        #expect(!ReviewSummary.format(1.7976931348623157e308).contains("inf"))
        #expect(ReviewSummary.format(9_007_199_254_740_992) == JSON.format(9_007_199_254_740_992))
    }

    /// A `bigint` near 2^63 and a `numeric` past 64 bits: the summary prints min, median, max
    /// and delta with every digit (not `9.2233720368547758e+18`, `1e+20`), and the manifest keeps them so.
    @Test func hugeIntegersArePrintedWithEveryDigit() async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE big (id int PRIMARY KEY, b bigint, n numeric);
                INSERT INTO big VALUES (1, 9223372036854775800, 100000000000000000000), (2, 0, 1)
                """)
        let update = BulkUpdate(
            table: "big", key: "id", columns: [.init("b", onEmpty: .keep), .init("n", onEmpty: .keep)])
        let input = [
            Batch(
                columns: ["id", "b", "n"],
                rows: [
                    [1, .int(9_223_372_036_854_775_807), "100000000000000000001"],
                    [2, .int(9_223_372_036_854_775_806), "123456789012345678901234567890.25"],
                ])
        ]
        let (summary, _) = try await Self.review(update, input, on: db.connection)
        for line in [
            "b old: min 0, median 4611686018427387900, max 9223372036854775800 (2 cells)",
            "b new: min 9223372036854775806, median 9223372036854775806.5, max 9223372036854775807 (2 cells)",
            "b delta: min 7, median 4611686018427387906.5, max 9223372036854775806 (2 cells)",
            "n old: min 1, median 50000000000000000000.5, max 100000000000000000000 (2 cells)",
            "n new: min 100000000000000000001, median 61728394556172839450617283945.625, "
                + "max 123456789012345678901234567890.25 (2 cells)",
        ] {
            #expect(summary.text.contains(line), "\(summary.text)")
        }
        // Through the manifest's JSON text and back: every digit still there.
        let json = try JSON.decode(JSON.encode(summary.json))
        #expect(ReviewSummary(json: json) == summary)
    }

    /// An empty text holds no value, as an empty input does: one the apply makes NULL is neither
    /// a clear (no value is lost, and `max_cleared` is not spent on it) nor a fill, and one that
    /// gets a value is a fill, counted once. The coverage after is the table's count of values
    /// (neither NULL nor empty) once it is applied, and review.csv tells "" from NULL.
    @Test func anEmptyTextIsNoValue() async throws {
        let db = try await Scratch.make(
            schema:
                "CREATE TABLE docs (id int PRIMARY KEY, tx text); "
                + "INSERT INTO docs VALUES (1, ''), (2, NULL), (3, 'a'), (4, '')")
        let update = BulkUpdate(table: "docs", key: "id", columns: [.init("tx", onEmpty: .clear)])
        let input = [Batch(columns: ["id", "tx"], rows: [[1, .null], [4, "b"]])]
        let (summary, cells) = try await Self.review(update, input, on: db.connection)
        let column = try #require(summary.columns.first)
        #expect(column.valuesBefore == 1 && column.fill == 1 && column.clear == 0 && column.update == 1, "\(column)")
        #expect(cells == [["1", "tx", "", "", "update"], ["4", "tx", "", "b", "fill"]])
        _ = try await update.run(on: db.connection, batches: input) { _ in }
        let count = try await db.connection.execute("SELECT count(NULLIF(tx, '')) FROM docs").scalar.intValue
        #expect(column.valuesAfter == Int(count ?? -1))
    }

    @Test func upsertReviewsNewRowsAsInserts() async throws {
        let db = try await SideTable.scratch()
        let input = SideTable.batch([
            (1, SideTable.mbid(1), 1000), (2, SideTable.mbid(5), 2000), (4, SideTable.mbid(4), 4000),
        ])
        let (summary, cells) = try await Self.review(SideTable.write(.upsert), [input], on: db.connection)
        #expect(summary.insertedRows == 1)
        #expect(summary.changedRows == 1)
        #expect(summary.unknownKeys == 0)
        // The two existing rows: each column's cells are either a change or left as they are.
        #expect(summary.matched == 2)
        for column in summary.columns {
            #expect(column.fill + column.update + column.clear + column.unchanged == 2, "\(column.name)")
            #expect(column.insert == 1, "\(column.name)")
        }
        #expect(
            cells == [
                [SideTable.id(2), "mbid", SideTable.mbid(2).text!, SideTable.mbid(5).text!, "update"],
                [SideTable.id(4), "length_ms", "", "4000", "insert"],
                [SideTable.id(4), "mbid", "", SideTable.mbid(4).text!, "insert"],
            ])
        #expect(summary.rowsAfter == 4)
        // The row it adds is not one of the table's rows that change.
        #expect(
            summary.text.hasPrefix(
                "review of track_musicbrainz (upsert): 1 of 3 rows would change and 1 would be added (4 rows after), "
                    + "3 cells; 2 matched, 0 duplicate rows\n"), "\(summary.text)")
    }

    @Test func insertReviewRefusesKeysAlreadyInTheTable() async throws {
        let db = try await SideTable.scratch()
        let input = SideTable.batch([(1, SideTable.mbid(1), 1000), (7, SideTable.mbid(7), 7000)])
        let error = await #expect(throws: BulkUpdateError.self) {
            _ = try await Self.review(SideTable.write(.insert), [input], on: db.connection)
        }
        #expect(error?.reason == .existingKeys)
    }

    /// Between the review and the apply, someone sets track 4's popularity (which the review
    /// updates from 40) to 41 and track 1's (which the review leaves at 10) to 11.
    static func drift(_ db: Scratch) async throws {
        let other = try await db.connect()
        _ = try await other.execute(
            "UPDATE tracks SET spotify_popularity = 41 WHERE id = $1", [.string(Tracks.id(4))])
        _ = try await other.execute(
            "UPDATE tracks SET spotify_popularity = 11 WHERE id = $1", [.string(Tracks.id(1))])
        await other.close()
    }

    static func reviewed(_ cells: [[String]]) -> [Batch] {
        [Batch(columns: ["key", "column", "old", "new"], rows: cells.map { $0.prefix(4).map(Value.string) })]
    }

    /// `fingerprinted`: held to the review's fingerprint too, which the drift changed, so the
    /// cells are compared as without it (read in under the lock).
    @Test(arguments: [false, true]) func onDriftFailChangesNothingAndNamesTheDriftedRows(
        fingerprinted: Bool
    )
        async throws
    {
        let db = try await Tracks.scratch()
        let (summary, cells) = try await Self.review(Tracks.update, [Self.input], on: db.connection)
        try await Self.drift(db)
        let before = try await Tracks.snapshot(db.connection)
        let error = await #expect(throws: BulkUpdateError.self) {
            _ = try await Tracks.update.run(
                on: db.connection, input: AsyncBatches([Self.input]), reviewed: AsyncBatches(Self.reviewed(cells)),
                fingerprint: fingerprinted ? summary.stateFingerprint : nil, onDrift: .fail
            ) { _ in }
        }
        #expect(error?.reason == .drift)
        #expect(error?.keys == [Tracks.id(1), Tracks.id(4)])
        #expect(error?.description.contains("2 row(s) of tracks changed since the review") == true)
        #expect(error?.description.contains("reviewed spotify_popularity 40 -> 45") == true, "\(error!)")
        // The table's doing: not said to be the input's.
        #expect(error?.description.contains("the table holds what the review saw") == false, "\(error!)")
        #expect(try await Tracks.snapshot(db.connection) == before)
    }

    /// With a second connection reading the prior values beside the UPDATE, the review's
    /// fingerprint is compared there, while the UPDATE runs. One that differs (rows changed since
    /// the review) undoes that UPDATE before `undo` got anything, and the apply goes on as
    /// without it: drifted rows fail it, changing nothing, or are set aside and the rest written.
    @Test(arguments: [BulkUpdate.OnDrift.fail, .skip])
    func aFingerprintThatDiffersBesideTheWriteUndoesTheWrite(onDrift: BulkUpdate.OnDrift) async throws {
        let db = try await Tracks.scratch()
        // Without the repeated row: a folded duplicate would keep the second connection away.
        let input = Batch(columns: Self.input.columns, rows: Array(Self.input.rows.dropLast()))
        let (summary, cells) = try await Self.review(Tracks.update, [input], on: db.connection)
        let fingerprint = try #require(summary.stateFingerprint)
        try await Self.drift(db)
        let before = try await Tracks.snapshot(db.connection)
        var undo: [Batch] = []
        let update = Tracks.update(concurrent: true)
        guard onDrift == .skip else {
            let error = await #expect(throws: BulkUpdateError.self) {
                _ = try await update.run(
                    on: db.connection, input: AsyncBatches([input]), reviewed: AsyncBatches(Self.reviewed(cells)),
                    fingerprint: fingerprint, onDrift: onDrift
                ) { undo.append($0) }
            }
            #expect(error?.reason == .drift)
            #expect(error?.keys == [Tracks.id(1), Tracks.id(4)])
            #expect(try await Tracks.snapshot(db.connection) == before)
            #expect(undo.isEmpty)
            return
        }
        let stats = try await update.run(
            on: db.connection, input: AsyncBatches([input]), reviewed: AsyncBatches(Self.reviewed(cells)),
            fingerprint: fingerprint, onDrift: onDrift
        ) { undo.append($0) }
        #expect(!stats.reviewFingerprintMatched)
        #expect(!stats.priorReadConcurrently)
        #expect((stats.drifted, stats.changed, stats.unknownKeys) == (2, 2, 1))
        #expect(try await Tracks.row(db.connection, 1) == [11, "ISRC-A"])
        #expect(try await Tracks.row(db.connection, 4) == [41, "ISRC-D"])
        #expect(try await Tracks.row(db.connection, 2) == [20, .null])
        #expect(try await Tracks.row(db.connection, 3) == [33, "ISRC-C"])
        // The prior values of the two rows written, once each: none from the undone UPDATE.
        #expect(undo.flatMap(\.rows).compactMap { $0[0].text }.sorted() == [Tracks.id(2), Tracks.id(3)])
    }

    /// A row set aside as drifted is not written, so it cannot fail the apply, though the UPDATE
    /// beside which the fingerprint is compared tries it first. Undrifted, the same row fails it.
    @Test func aDriftedRowThatWouldBreakAConstraintIsSetAsideNotFailed() async throws {
        let db = try await Tracks.scratch()
        let input = Batch(columns: Self.input.columns, rows: Array(Self.input.rows.dropLast()))
        let (summary, cells) = try await Self.review(Tracks.update, [input], on: db.connection)
        let fingerprint = try #require(summary.stateFingerprint)
        // Since the review: a constraint only row 4's reviewed value (popularity 45) breaks.
        _ = try await db.connection.execute("ALTER TABLE tracks ADD CONSTRAINT not_45 CHECK (spotify_popularity <> 45)")
        let update = Tracks.update(concurrent: true)
        let error = await #expect(throws: BulkUpdateError.self) {
            _ = try await update.run(
                on: db.connection, input: AsyncBatches([input]), reviewed: AsyncBatches(Self.reviewed(cells)),
                fingerprint: fingerprint, onDrift: .skip
            ) { _ in }
        }
        #expect(error?.reason == .constraintViolation)
        #expect(error?.key == Tracks.id(4))
        try await Self.drift(db)
        let stats = try await update.run(
            on: db.connection, input: AsyncBatches([input]), reviewed: AsyncBatches(Self.reviewed(cells)),
            fingerprint: fingerprint, onDrift: .skip
        ) { _ in }
        #expect((stats.drifted, stats.changed) == (2, 2))
        #expect(try await Tracks.row(db.connection, 4) == [41, "ISRC-D"])
        #expect(try await Tracks.row(db.connection, 3) == [33, "ISRC-C"])
    }

    /// A drifted value holding line breaks is named on one line (`\\n`), as every message is.
    @Test func aDriftedValueWithLineBreaksIsNamedOnOneLine() async throws {
        let db = try await Tracks.scratch()
        let (_, cells) = try await Self.review(Tracks.update, [Self.input], on: db.connection)
        let other = try await db.connect()
        _ = try await other.execute(
            "UPDATE tracks SET isrc = E'two\\nlines\\r\\n' WHERE id = $1", [.string(Tracks.id(4))])
        await other.close()
        let error = await #expect(throws: BulkUpdateError.self) {
            _ = try await Tracks.update.run(
                on: db.connection, input: AsyncBatches([Self.input]), reviewed: AsyncBatches(Self.reviewed(cells)),
                onDrift: .fail
            ) { _ in }
        }
        let message = error?.message ?? ""
        #expect(!message.contains("\n") && !message.contains("\r"), "\(message)")
        #expect(message.contains(#"two\nlines\r\n"#), "\(message)")
    }

    /// A value changed by white space alone (a trailing space added since the review) is quoted
    /// where a drift names it, so the change shows.
    @Test func aDriftOfSpacesAloneShows() async throws {
        let db = try await Tracks.scratch()
        let (_, cells) = try await Self.review(Tracks.update, [Self.input], on: db.connection)
        let now = try #require(
            try await db.connection.execute("SELECT isrc FROM tracks WHERE id = $1", [.string(Tracks.id(4))]).scalar
                .text)
        _ = try await db.connection.execute(
            "UPDATE tracks SET isrc = isrc || ' ' WHERE id = $1", [.string(Tracks.id(4))])
        let error = await #expect(throws: BulkUpdateError.self) {
            _ = try await Tracks.update.run(
                on: db.connection, input: AsyncBatches([Self.input]), reviewed: AsyncBatches(Self.reviewed(cells)),
                onDrift: .fail
            ) { _ in }
        }
        #expect(error?.message.contains("now isrc \"\(now) \" -> ") == true, "\(error?.message ?? "")")
    }

    /// A drift of characters that do not show, or show as others do, is named with their codes,
    /// as the review shows them: `café` composed when reviewed and decomposed now (the message
    /// read `café` on both sides), a tab added at the end of a value (it read as a space, in
    /// quotes), a cell the review did not list because it held what the input writes, decomposed
    /// since (`café -> café`).
    @Test func aDriftOfCharactersThatDoNotShowIsNamedWithTheirCodes() async throws {
        let db = try await Tracks.scratch()
        let (composed, decomposed) = ("caf\u{E9}", "cafe\u{301}")
        let set = "UPDATE tracks SET isrc = $2 WHERE id = $1"
        // Reviewed: row 1's café -> ISRC-A2; row 5 already holds the café the input writes.
        for id in [1, 5] { _ = try await db.connection.execute(set, [.string(Tracks.id(id)), .string(composed)]) }
        var input = Self.input
        input.rows.append([.string(Tracks.id(5)), 50, .string(composed)])
        let (_, cells) = try await Self.review(Tracks.update, [input], on: db.connection)
        for id in [1, 5] { _ = try await db.connection.execute(set, [.string(Tracks.id(id)), .string(decomposed)]) }
        _ = try await db.connection.execute(set, [.string(Tracks.id(4)), "ISRC-D\t"])
        let error = await #expect(throws: BulkUpdateError.self) {
            _ = try await Tracks.update.run(
                on: db.connection, input: AsyncBatches([input]), reviewed: AsyncBatches(Self.reviewed(cells)),
                onDrift: .fail
            ) { _ in }
        }
        let message = error?.message ?? ""
        let named = [
            "\(Tracks.id(1)) (reviewed isrc \"caf\\u{E9}\" -> ISRC-A2; now isrc \"cafe\\u{301}\" -> ISRC-A2)",
            "\(Tracks.id(4)) (now isrc \"ISRC-D\\t\" -> ISRC-D)",
            "\(Tracks.id(5)) (now isrc \"cafe\\u{301}\" -> \"caf\\u{E9}\")",
        ]
        #expect(named.filter { !message.contains($0) } == [], "\(message)")
    }

    /// A review's fingerprint is of everything the write depends on: the table's rows and the
    /// input's values, and how each column is written (`on_empty`). The same on the locked table,
    /// the reviewed cells are not read at all (here they would fail the apply if they were).
    @Test func aMatchingFingerprintSkipsReadingTheReviewedCells() async throws {
        let db = try await Tracks.scratch()
        let (summary, _) = try await Self.review(Tracks.update, [Self.input], on: db.connection)
        let fingerprint = try #require(summary.stateFingerprint)
        // Reviewed again, unchanged: the same fingerprint; another input or another way of
        // writing a column, another.
        #expect(try await Self.review(Tracks.update, [Self.input], on: db.connection).0.stateFingerprint == fingerprint)
        let otherInput = Tracks.batch([
            (1, 10, "ISRC-A3"), (2, "", ""), (3, 33, "ISRC-C"), (4, 45, "ISRC-D"), (9, 90, "ISRC-X"),
            (1, 10, "ISRC-A3"),
        ])
        #expect(try await Self.review(Tracks.update, [otherInput], on: db.connection).0.stateFingerprint != fingerprint)
        var clearing = Tracks.update
        clearing.columns = clearing.columns.map { BulkUpdate.Column($0.name, onEmpty: .clear) }
        #expect(try await Self.review(clearing, [Self.input], on: db.connection).0.stateFingerprint != fingerprint)

        let stats = try await Tracks.update.run(
            on: db.connection, input: AsyncBatches([Self.input]), reviewed: UnreadableBatches(),
            fingerprint: fingerprint,
            onDrift: .fail
        ) { _ in }
        #expect(stats.reviewFingerprintMatched)
        #expect(stats.changed == 4)
        #expect(try await Tracks.row(db.connection, 4) == [45, "ISRC-D"])
        // Read once the fingerprint differs: then reading them is what fails.
        await #expect(throws: UnreadableBatches.Read.self) {
            _ = try await Tracks.update.run(
                on: db.connection, input: AsyncBatches([Self.input]), reviewed: UnreadableBatches(),
                fingerprint: fingerprint, onDrift: .fail
            ) { _ in }
        }
    }

    /// A column type with no hash function (`money`) gives no fingerprint: the review goes on
    /// without one, and an apply given one compares cell by cell (the failed read, behind a
    /// savepoint, leaves its transaction usable).
    @Test func aTypeWithoutAHashFunctionReviewsAndAppliesWithoutAFingerprint() async throws {
        let db = try await Scratch.make(
            schema: "CREATE TABLE prices (id uuid PRIMARY KEY, price money); "
                + "INSERT INTO prices VALUES ('\(Tracks.id(1))', 1.5), ('\(Tracks.id(2))', 2)")
        let update = BulkUpdate(table: "prices", key: "id", columns: [.init("price", onEmpty: .keep)])
        let input = Batch(
            columns: ["id", "price"], rows: [[.string(Tracks.id(1)), "1.75"], [.string(Tracks.id(2)), "2"]])
        let (summary, cells) = try await Self.review(update, [input], on: db.connection)
        #expect(summary.stateFingerprint == nil)
        #expect(summary.changedRows == 1)
        let stats = try await update.run(
            on: db.connection, input: AsyncBatches([input]), reviewed: AsyncBatches(Self.reviewed(cells)),
            fingerprint: "0123456789abcdef:2:0", onDrift: .fail
        ) { _ in }
        #expect(!stats.reviewFingerprintMatched)
        #expect(stats.changed == 1)
        #expect(
            try await db.connection.execute("SELECT price::numeric::text FROM prices ORDER BY id").rows == [
                ["1.75"], ["2.00"],
            ])
    }

    /// The reviewed cells are read in before the table is locked: other writers do not wait while
    /// they are, and a review the apply cannot use fails without waiting for the lock. Here
    /// another session holds a lock the apply's would wait for (a `lock_timeout` keeps a wait from
    /// hanging the test: reaching it would be another error).
    @Test func theReviewedCellsAreReadBeforeTheTableIsLocked() async throws {
        let db = try await Tracks.scratch()
        let (_, cells) = try await Self.review(Tracks.update, [Self.input], on: db.connection)
        let writer = try await db.connect()
        // Closed however the test ends: an open lock would hold up dropping the scratch database.
        defer { Task { await writer.close() } }
        _ = try await writer.execute("BEGIN")
        _ = try await writer.execute("LOCK TABLE tracks IN ROW EXCLUSIVE MODE")
        _ = try await db.connection.execute("SET lock_timeout = '2s'")
        let before = try await Tracks.snapshot(db.connection)
        let otherPlan = cells + [[Tracks.id(5), "title", "Five", "5"]]
        let error = await #expect(throws: BulkUpdateError.self) {
            _ = try await Tracks.update.run(
                on: db.connection, input: AsyncBatches([Self.input]), reviewed: AsyncBatches(Self.reviewed(otherPlan)),
                onDrift: .fail
            ) { _ in }
        }
        #expect(error?.reason == .invalidConfiguration, "\(String(describing: error))")
        #expect(error?.description.contains("it was made for another plan") == true)
        #expect(try await Tracks.snapshot(db.connection) == before)
    }

    @Test(arguments: [(false, false), (true, false), (false, true)])
    func onDriftSkipAppliesTheRestAndLeavesDriftedRows(concurrent: Bool, fingerprinted: Bool) async throws {
        let db = try await Tracks.scratch()
        let update = Tracks.update(concurrent: concurrent)
        let (summary, cells) = try await Self.review(update, [Self.input], on: db.connection)
        try await Self.drift(db)
        var undo: [Batch] = []
        let stats = try await update.run(
            on: db.connection, input: AsyncBatches([Self.input]), reviewed: AsyncBatches(Self.reviewed(cells)),
            fingerprint: fingerprinted ? summary.stateFingerprint : nil, onDrift: .skip
        ) { undo.append($0) }
        #expect(!stats.reviewFingerprintMatched)
        #expect(stats.drifted == 2)
        #expect(stats.changed == 2)
        #expect(stats.unknownKeys == 1)
        #expect(stats.driftSamples.count == 2)
        // Drifted rows keep what was written since, in every column; the others are applied.
        #expect(try await Tracks.row(db.connection, 1) == [11, "ISRC-A"])
        #expect(try await Tracks.row(db.connection, 4) == [41, "ISRC-D"])
        #expect(try await Tracks.row(db.connection, 2) == [20, .null])
        #expect(try await Tracks.row(db.connection, 3) == [33, "ISRC-C"])
        #expect(undo.flatMap(\.rows).count == 2)
        // The second connection's copy of the input would still hold the drifted rows.
        #expect(!stats.priorReadConcurrently)
    }

    /// `fingerprinted`: held to the review's fingerprint too, which the table still gives, so the
    /// cells are not compared one by one; the write is the same.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func anUndriftedApplyWritesExactlyTheReviewedCells(concurrent: Bool, fingerprinted: Bool) async throws {
        let db = try await Tracks.scratch()
        // Without the repeated row: a folded duplicate would keep the second connection away.
        let input = Batch(columns: Self.input.columns, rows: Array(Self.input.rows.dropLast()))
        let (summary, cells) = try await Self.review(Tracks.update, [input], on: db.connection)
        let fingerprint = fingerprinted ? try #require(summary.stateFingerprint) : nil
        var undo: [Batch] = []
        let stats = try await Tracks.update(concurrent: concurrent).run(
            on: db.connection, input: AsyncBatches([input]), reviewed: AsyncBatches(Self.reviewed(cells)),
            fingerprint: fingerprint, onDrift: .fail
        ) { undo.append($0) }
        #expect(stats.drifted == 0)
        #expect(stats.reviewFingerprintMatched == fingerprinted)
        #expect(stats.changed == 4)
        // With nothing drifted (and no duplicate), the prior values may be read beside the UPDATE.
        #expect(stats.priorReadConcurrently == concurrent)
        #expect(
            undo.flatMap(\.rows).sorted { ($0[0].text ?? "") < ($1[0].text ?? "") } == [
                [.string(Tracks.id(1)), 10, "ISRC-A", 10, "ISRC-A2"],
                [.string(Tracks.id(2)), 20, "ISRC-B", 20, .null],
                [.string(Tracks.id(3)), .null, .null, 33, "ISRC-C"],
                [.string(Tracks.id(4)), 40, "ISRC-D", 45, "ISRC-D"],
            ])
        let (after, none) = try await Self.review(Tracks.update, [input], on: db.connection)
        #expect(none.isEmpty)
        #expect(after.changedRows == 0)
        // The same review applied again: its rows hold what it wrote, so nothing would be
        // written and nothing has drifted; one cell set back since is drift again.
        let again = try await Tracks.update.run(
            on: db.connection, input: AsyncBatches([input]), reviewed: AsyncBatches(Self.reviewed(cells)),
            fingerprint: fingerprint, onDrift: .fail
        ) { _ in }
        #expect(again.drifted == 0 && again.changed == 0)
        // The table holds what the review wrote, not what it read: compared cell by cell.
        #expect(!again.reviewFingerprintMatched)
        _ = try await db.connection.execute("UPDATE tracks SET isrc = 'ISRC-Z' WHERE id = $1", [.string(Tracks.id(3))])
        let error = await #expect(throws: BulkUpdateError.self) {
            _ = try await Tracks.update.run(
                on: db.connection, input: AsyncBatches([input]), reviewed: AsyncBatches(Self.reviewed(cells)),
                fingerprint: fingerprint, onDrift: .fail
            ) { _ in }
        }
        #expect(error?.keys == [Tracks.id(3)])
        #expect(error?.description.contains("reviewed isrc (empty) -> ISRC-C") == true, "\(error!)")
        #expect(error?.description.contains("now isrc ISRC-Z -> ISRC-C") == true, "\(error!)")
    }

    /// Runs `update` plainly on one copy of a table and reviewed inside its transaction on
    /// another: the review's reading of the prior values must give `undo` exactly what the
    /// update's own read gives, typed the same, and the same counts and table. `concurrent`: the
    /// review runs on a second connection while the write runs, else before it.
    static func compareInline(
        _ update: BulkUpdate, concurrent: Bool, input: Batch, scratch: () async throws -> Scratch,
        prepare: String? = nil, filled: [Int]? = nil, snapshot: (PostgresConnection) async throws -> [[Value]]
    ) async throws -> [[Value]] {
        func sorted(_ batches: [Batch]) -> [[Value]] {
            batches.flatMap(\.rows).sorted { ($0.first?.text ?? "") < ($1.first?.text ?? "") }
        }
        let plainDB = try await scratch()
        let inlineDB = try await scratch()
        if let prepare {
            _ = try await plainDB.connection.execute(prepare)
            _ = try await inlineDB.connection.execute(prepare)
        }
        var update = update
        update.countsFilled = true
        var plainUndo: [Batch] = []
        let plain = try await update.run(on: plainDB.connection, input: AsyncBatches([input])) { plainUndo.append($0) }
        var inlineUndo: [Batch] = []
        var cells = 0
        var reviewedBeforeWrite: ReviewSummary?
        let review = BulkUpdate.InlineReview(cells: { cells += $0.count }) { summary, _ in
            reviewedBeforeWrite = summary
        }
        var inlineUpdate = update
        inlineUpdate.concurrentPriorReadRows = concurrent ? 1 : nil
        let inline = try await inlineUpdate.run(on: inlineDB.connection, input: AsyncBatches([input]), review: review) {
            #expect($0.columns == update.undoColumns)
            inlineUndo.append($0)
        }
        #expect(inline.priorReadConcurrently == concurrent)
        #expect(sorted(inlineUndo) == sorted(plainUndo))
        #expect(inline.changed == plain.changed && inline.inserted == plain.inserted)
        #expect(inline.matched == plain.matched && inline.unknownKeys == plain.unknownKeys)
        // The review's own count of the input's values, not a second scan: the same figures.
        #expect(inline.filled == plain.filled && inline.filled.count == update.columns.count)
        if let filled { #expect(plain.filled == filled) }
        #expect(try await snapshot(inlineDB.connection) == snapshot(plainDB.connection))
        #expect(cells > 0 && reviewedBeforeWrite?.changedRows == plain.changed)
        return sorted(inlineUndo)
    }

    @Test(arguments: [false, true])
    func aReviewInsideTheUpdateGivesUndoWhatTheUpdatesOwnReadGives(concurrent: Bool) async throws {
        // Track 5's ISRC is an empty string, not NULL: undo must put back "" (text, not empty).
        let input = Tracks.batch([
            (1, 10, "ISRC-A2"), (2, "", ""), (3, 33, "ISRC-C"), (4, 40, "ISRC-D"), (5, 55, "ISRC-E5"),
            (9, 90, "ISRC-X"),
        ])
        let undo = try await Self.compareInline(
            Tracks.update, concurrent: concurrent, input: input, scratch: Tracks.scratch,
            // Track 9 is not in the table: its values fill nothing.
            prepare: "UPDATE tracks SET isrc = '' WHERE id = '\(Tracks.id(5))'", filled: [4, 4],
            snapshot: Tracks.snapshot)
        #expect(
            undo == [
                [.string(Tracks.id(1)), 10, "ISRC-A", 10, "ISRC-A2"],
                [.string(Tracks.id(2)), 20, "ISRC-B", 20, .null],
                [.string(Tracks.id(3)), .null, .null, 33, "ISRC-C"],
                [.string(Tracks.id(5)), 50, "", 55, "ISRC-E5"],
            ])
    }

    @Test(arguments: [BulkUpdate.Mode.upsert, .insert], [false, true])
    func aReviewInsideAnUpsertOrInsertRecordsTheRowsItAdds(mode: BulkUpdate.Mode, concurrent: Bool) async throws {
        let input =
            mode == .upsert
            ? SideTable.batch([(1, SideTable.mbid(1), 1000), (2, SideTable.mbid(5), ""), (4, SideTable.mbid(4), 4000)])
            : SideTable.batch([(4, SideTable.mbid(4), 4000), (5, .null, 5000)])
        let undo = try await Self.compareInline(
            SideTable.write(mode), concurrent: concurrent, input: input, scratch: SideTable.scratch,
            snapshot: SideTable.snapshot)
        #expect(undo.filter { $0.last == .bool(true) }.count == (mode == .upsert ? 1 : 2))
    }

    /// An input whose first rows write nothing (a re-apply) is reviewed before the write on the
    /// one connection, which then has no UPDATE to run; one that writes is reviewed beside it.
    @Test func aReApplyIsReviewedOnOneConnection() async throws {
        let db = try await Tracks.scratch()
        let input = Batch(columns: Self.input.columns, rows: Array(Self.input.rows.dropLast()))
        let update = Tracks.update(concurrent: true)
        var reviews: [ReviewSummary] = []
        let review = BulkUpdate.InlineReview(cells: { _ in }) { summary, _ in reviews.append(summary) }
        let first = try await update.run(on: db.connection, input: AsyncBatches([input]), review: review) { _ in }
        #expect(first.priorReadConcurrently && first.changed == 4)
        let again = try await update.run(on: db.connection, input: AsyncBatches([input]), review: review) { _ in }
        #expect(!again.priorReadConcurrently && again.changed == 0)
        #expect(reviews.map(\.changedRows) == [4, 0])
    }

    /// A review inside the update that refuses it (a guard-rail) changes nothing, also when it
    /// runs beside the write: the write is cancelled or rolled back, not committed.
    @Test(arguments: [false, true])
    func aReviewInsideTheUpdateThatRefusesChangesNothing(concurrent: Bool) async throws {
        struct Refused: Error {}
        let db = try await Tracks.scratch()
        // Each row the UPDATE writes takes 60 s: beside the review, the refusal must cancel it.
        _ = try await db.connection.execute(
            """
            CREATE FUNCTION slow_write() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN PERFORM pg_sleep(60); RETURN NEW; END $$;
            CREATE TRIGGER slow_write BEFORE UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION slow_write()
            """)
        let before = try await Tracks.snapshot(db.connection)
        let review = BulkUpdate.InlineReview(cells: { _ in }) { summary, _ in
            #expect(summary.changedRows == 4)
            throw Refused()
        }
        let started = ContinuousClock.now
        await #expect(throws: Refused.self) {
            _ = try await Tracks.update(concurrent: concurrent).run(
                on: db.connection, input: AsyncBatches([Self.input]), review: review
            ) { _ in }
        }
        // Not the 240 s of an UPDATE left to finish. The bound is generous for a loaded machine:
        // 37 s once, at the start of a fresh clone's suite, every suite starting at once on 2 cores.
        #expect(ContinuousClock.now - started < .seconds(120))
        #expect(try await Tracks.snapshot(db.connection) == before)
        // The second connection is closed, not left open in its transaction.
        #expect(try await otherSessions(db.connection) == 0)
    }

    /// An upsert held to its review: a row the review saw as new that someone inserted since has
    /// drifted (left as they wrote it, every cell named); the rest is written as reviewed.
    @Test func anUpsertHeldToItsReviewLeavesARowInsertedSince() async throws {
        let db = try await SideTable.scratch()
        let update = SideTable.write(.upsert)
        let input = SideTable.batch([
            (2, SideTable.mbid(5), ""), (4, SideTable.mbid(4), 4000), (6, SideTable.mbid(6), 6000),
        ])
        let (_, cells) = try await Self.review(update, [input], on: db.connection)
        let other = try await db.connect()
        _ = try await other.execute(
            "INSERT INTO track_musicbrainz VALUES ($1, $2, 9000)", [.string(SideTable.id(4)), SideTable.mbid(9)])
        await other.close()
        let stats = try await update.run(
            on: db.connection, input: AsyncBatches([input]), reviewed: AsyncBatches(Self.reviewed(cells)),
            onDrift: .skip
        ) { _ in }
        #expect(stats.drifted == 1 && stats.changed == 1 && stats.inserted == 1)
        let mbid4 = SideTable.mbid(4).text!
        let mbid9 = SideTable.mbid(9).text!
        #expect(
            stats.driftSamples == [
                "\(SideTable.id(4)) (reviewed length_ms (empty) -> 4000; now length_ms 9000 -> 4000; "
                    + "reviewed mbid (empty) -> \(mbid4); now mbid \(mbid9) -> \(mbid4))"
            ])
        #expect(
            try await SideTable.snapshot(db.connection) == [
                SideTable.row(1, SideTable.mbid(1), 1000), SideTable.row(2, SideTable.mbid(5), 2000),
                SideTable.row(3, .null, 3000), SideTable.row(4, SideTable.mbid(9), 9000),
                SideTable.row(6, SideTable.mbid(6), 6000),
            ])
    }
}

/// Reviewed cells that fail the apply when read.
struct UnreadableBatches: AsyncSequence {
    typealias Element = Batch
    struct Read: Error {}
    struct AsyncIterator: AsyncIteratorProtocol {
        mutating func next() async throws -> Batch? { throw Read() }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator() }
}
