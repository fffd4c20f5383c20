import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

/// BEFORE triggers that change which row a write lands in: a key rewritten, a row skipped
/// (the trigger returns NULL), a row redirected onto another one. The undo of an upsert or
/// insert deletes exactly the rows it added, under the keys they were stored with; what undo
/// could not put back is refused before anything commits.
extension TriggerTests {
    /// On insert: length 7777 is stored under key 7, length 6666 is not stored at all, lengths
    /// over 8000 are capped at 5000.
    static let reKeyingTrigger = """
        CREATE FUNCTION rekey() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.length_ms = 7777 THEN NEW.track_id := '\(SideTable.id(7))'; END IF;
          IF NEW.length_ms = 6666 THEN RETURN NULL; END IF;
          IF NEW.length_ms > 8000 THEN NEW.length_ms := 5000; END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER rekey BEFORE INSERT ON track_musicbrainz FOR EACH ROW EXECUTE FUNCTION rekey()
        """

    @Test(arguments: [BulkUpdate.Mode.upsert, .insert])
    func theUndoOfRowsATriggerReKeyedOrSkippedDeletesExactlyTheRowsStored(mode: BulkUpdate.Mode) async throws {
        let db = try await Scratch.make(schema: SideTable.schema + ";\n" + Self.reKeyingTrigger)
        let before = try await SideTable.snapshot(db.connection)
        let update = SideTable.write(mode)
        var records: [Batch] = []
        var rows = [(4, SideTable.mbid(4), 7777 as Value), (5, SideTable.mbid(5), 6666), (6, SideTable.mbid(6), 9000)]
        if mode == .upsert { rows.append((2, SideTable.mbid(2), 2500)) }
        let stats = try await update.run(on: db.connection, batches: [SideTable.batch(rows)]) { records.append($0) }
        #expect(stats.inserted == 2, "row 4 stored as 7, row 6; not row 5")
        #expect(stats.changed == (mode == .upsert ? 1 : 0))
        let updated = mode == .upsert ? [SideTable.row(2, SideTable.mbid(2), 2500)] : []
        let after =
            before.filter { mode == .insert || $0[0] != .string(SideTable.id(2)) } + updated
            + [SideTable.row(6, SideTable.mbid(6), 5000), SideTable.row(7, SideTable.mbid(4), 7777)]
        #expect(try await SideTable.snapshot(db.connection) == after.sorted { $0[0].text! < $1[0].text! })
        // Someone else adds the row the trigger kept out, as the apply would have written it.
        _ = try await db.connection.execute(
            """
            ALTER TABLE track_musicbrainz DISABLE TRIGGER rekey;
            INSERT INTO track_musicbrainz VALUES ('\(SideTable.id(5))', '\(SideTable.mbid(5).text!)', 6666);
            ALTER TABLE track_musicbrainz ENABLE TRIGGER rekey
            """)
        let undone = try await update.undoing.run(on: db.connection, batches: Self.undoInput(records, of: update)) {
            _ in
        }
        #expect(undone.conflicts == 0)
        #expect(undone.deleted == 2)
        #expect(
            try await SideTable.snapshot(db.connection)
                == (before + [SideTable.row(5, SideTable.mbid(5), 6666)]).sorted { $0[0].text! < $1[0].text! })
    }

    /// An upsert whose trigger gives a new row the key of an existing one: `ON CONFLICT` then
    /// updates that row, whose prior values no one read. Refused, and nothing changes.
    @Test func anUpsertATriggerRedirectsOntoAnotherRowIsRefused() async throws {
        let db = try await Scratch.make(
            schema: SideTable.schema
                + """
                ;
                CREATE FUNCTION redirect() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF NEW.length_ms = 5555 THEN NEW.track_id := '\(SideTable.id(1))'; END IF; RETURN NEW; END $$;
                CREATE TRIGGER redirect BEFORE INSERT ON track_musicbrainz FOR EACH ROW EXECUTE FUNCTION redirect()
                """)
        let before = try await SideTable.snapshot(db.connection)
        let input = SideTable.batch([(4, SideTable.mbid(4), 5555), (5, SideTable.mbid(5), 100)])
        let error = await #expect(throws: BulkUpdateError.self) {
            try await SideTable.write(.upsert).run(on: db.connection, batches: [input]) { _ in }
        }
        #expect(error?.reason == .triggerRedirected)
        #expect(error?.keys == [SideTable.id(1)])
        #expect(error?.description.contains("a trigger on track_musicbrainz") == true, "\(String(describing: error))")
        #expect(error?.description.contains("nothing was changed") == true)
        #expect(try await SideTable.snapshot(db.connection) == before)
    }

    /// A BEFORE UPDATE trigger that moves a row to another key, by an update or by an upsert's
    /// `DO UPDATE`: undo, which finds rows by their key, could not put it back. Refused.
    @Test(arguments: [BulkUpdate.Mode.update, .upsert])
    func aRowATriggerMovesToAnotherKeyIsRefused(mode: BulkUpdate.Mode) async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE kc (id int PRIMARY KEY, v text);
                INSERT INTO kc VALUES (1, 'a'), (2, 'b');
                CREATE FUNCTION move() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF NEW.v = 'move' THEN NEW.id := NEW.id + 100; END IF; RETURN NEW; END $$;
                CREATE TRIGGER move BEFORE UPDATE ON kc FOR EACH ROW EXECUTE FUNCTION move()
                """)
        var update = BulkUpdate(table: "kc", key: "id", columns: [.init("v", onEmpty: .keep)])
        update.mode = mode
        let input = Batch(columns: ["id", "v"], rows: [[1, "move"], [2, "c"]])
        let error = await #expect(throws: BulkUpdateError.self) {
            try await update.run(on: db.connection, batches: [input]) { _ in }
        }
        #expect(error?.reason == .triggerRedirected)
        #expect(error?.keys == ["1"])
        #expect(error?.description.contains("nothing was changed") == true)
        #expect(try await db.connection.execute("SELECT id, v FROM kc ORDER BY id").rows == [[1, "a"], [2, "b"]])
    }

    /// A trigger that fills, in the rows an upsert adds, a column the apply does not write and
    /// that has no default: the apply says so (their undo would keep them), naming the column.
    @Test func rowsWhoseUnwrittenColumnATriggerFilledAreCounted() async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE fl (id int PRIMARY KEY, v text, note text, made timestamptz DEFAULT now());
                INSERT INTO fl VALUES (1, 'a', NULL);
                CREATE FUNCTION fill() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF NEW.v <> 'plain' THEN NEW.note := 'auto'; END IF; RETURN NEW; END $$;
                CREATE TRIGGER fill BEFORE INSERT ON fl FOR EACH ROW EXECUTE FUNCTION fill()
                """)
        var update = BulkUpdate(table: "fl", key: "id", columns: [.init("v", onEmpty: .keep)])
        update.mode = .upsert
        let input = Batch(columns: ["id", "v"], rows: [[1, "b"], [2, "c"], [3, "d"], [4, "plain"]])
        let stats = try await update.run(on: db.connection, batches: [input]) { _ in }
        #expect(stats.inserted == 3 && stats.changed == 1)
        #expect(stats.rowsFilledByTrigger == 2)
        #expect(stats.columnsFilledByTrigger == ["note"])
    }
}
