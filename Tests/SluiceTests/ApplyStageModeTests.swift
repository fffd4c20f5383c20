import Foundation
import SluiceApply
import SluiceCore
import SluicePlan
import SluicePostgres
import Testing

@testable import Sluice
@testable import SluicePipeline

/// The Spotify plan's apply stage with `--set apply.mode=...`, writing to a side table.
@Suite struct ApplyStageModeTests {
    static let columns = ApplyStageTests.columns

    static func row(_ n: Int, _ popularity: Value, _ isrc: Value) -> [Value] {
        ApplyStageTests.row(n, popularity, isrc)
    }

    /// Tracks 1 (10, ISRC1) and 2 (20, no ISRC) in `track_spotify`.
    static func sideTable() async throws -> TestDatabase {
        let db = try await TestDatabase.make(tracks: 0)
        _ = try await db.connection.execute(
            """
            CREATE TABLE track_spotify (id uuid PRIMARY KEY, spotify_popularity int, isrc text);
            INSERT INTO track_spotify VALUES ('\(TestDatabase.track(1))', 10, 'ISRC1'), ('\(TestDatabase.track(2))', 20, NULL)
            """)
        return db
    }

    static func snapshot(_ db: TestDatabase) async throws -> [[Value]] {
        try await db.connection.execute("SELECT id::text, spotify_popularity, isrc FROM track_spotify ORDER BY id").rows
    }

    static func plan(_ db: TestDatabase, mode: String) async throws -> Plan {
        try await TestPlans.spotify(
            database: db.conninfo, overrides: ["apply.table=track_spotify", "apply.mode=\(mode)"])
    }

    /// 1 unchanged, 2 gains an ISRC (its popularity kept), 3 and 4 are new.
    static let input = [
        Batch(columns: columns, rows: [row(1, 10, "ISRC1"), row(2, .null, "ISRC2"), row(3, 30, .null), row(4, "", "")])
    ]

    @Test func upsertCountsInsertedRowsAndUndoPutsTheTableBack() async throws {
        let db = try await Self.sideTable()
        defer { Task { await db.close() } }
        let before = try await Self.snapshot(db)
        let plan = try await Self.plan(db, mode: "upsert")
        #expect(plan.stage(named: "apply")?.apply?.mode == .upsert)
        let stage = try TestPlans.stage("apply", of: plan)
        let harness = try await StageHarness(stage: stage)
        _ = try await harness.run(stage, input: Self.input)
        #expect(harness.counters["input_rows"] == 4)
        #expect(harness.counters["matched"] == 2)
        #expect(harness.counters["changed"] == 1)
        #expect(harness.counters["unchanged"] == 1)
        #expect(harness.counters["inserted"] == 2)
        #expect(harness.counters["unknown_keys"] == 0)
        #expect(harness.counters["filled_spotify_popularity"] == 2)
        #expect(harness.counters["filled_isrc"] == 2)
        #expect(!harness.notices.contains { $0.contains("are not in") })
        #expect(
            try await Self.snapshot(db) == [
                [.string(TestDatabase.track(1)), 10, "ISRC1"], [.string(TestDatabase.track(2)), 20, "ISRC2"],
                [.string(TestDatabase.track(3)), 30, .null], [.string(TestDatabase.track(4)), .null, .null],
            ])

        // The undo file says it is an upsert's and lists the rows added apart from the prior values.
        let file = try #require(harness.artifacts("undo").first)
        let lines = try await text(of: file).split(
            separator: "\n")
        #expect(lines.count == 6)
        #expect(lines[0].contains(#""mode":"upsert""#))
        #expect(lines[1].hasPrefix(#"{"target":{"database":"#))
        #expect(lines.last?.hasPrefix(#"{"transaction":"#) == true)
        #expect(lines.dropFirst().filter { $0.hasPrefix(#"{"inserted":["#) }.count == 2)
        #expect(lines.dropFirst().filter { $0.hasPrefix("[") }.count == 1)
        // What a run that failed after this commit says it wrote (`the database changed: ...`).
        #expect(ApplyStage.written(rows: 3, counters: harness.counters) == "3 rows: 1 updated, 2 inserted")

        let undo = try Undo(
            runDirectory: harness.runDirectory, manifest: try ApplyStageTests.manifest(for: harness), plan: plan)
        let report = try await undo.run(logger: StageHarness.logger)
        #expect(report.rows == 3)
        #expect(report.restored == 1)
        #expect(report.deleted == 2)
        #expect(
            report.description.hasPrefix("undo of 'apply': restored 1 and deleted 2 (added by the apply) of 3 rows"))
        #expect(try await Self.snapshot(db) == before)

        let again = try await undo.run(logger: StageHarness.logger)
        #expect(again.restored == 0)
        #expect(again.deleted == 0)
        #expect(again.unknownKeys == 2)
    }

    @Test func upsertDryRunSaysWhatWouldBeInsertedAndChangesNothing() async throws {
        let db = try await Self.sideTable()
        defer { Task { await db.close() } }
        let before = try await Self.snapshot(db)
        let stage = try TestPlans.stage("apply", of: try await Self.plan(db, mode: "upsert"), dryRun: true)
        let harness = try await StageHarness(stage: stage)
        _ = try await harness.run(stage, input: Self.input)
        #expect(try await Self.snapshot(db) == before)
        #expect(harness.counters["changed"] == 1)
        #expect(harness.counters["inserted"] == 2)
        #expect(harness.counters["dry_run"] == 1)
        #expect(harness.artifacts("undo").isEmpty)
        let expected = "dry run: 1 of 2 matched rows in track_spotify would change and 2 new rows would be inserted"
        #expect(harness.notices.contains { $0.contains(expected) }, "\(harness.notices)")
        // Its examples are of the rows it writes, changed or added alike: they say so.
        #expect(harness.notices.contains { $0.contains("(changed or added, e.g. id ") }, "\(harness.notices)")
    }

    @Test func insertOfAKeyAlreadyInTheTableFailsAndChangesNothing() async throws {
        let db = try await Self.sideTable()
        defer { Task { await db.close() } }
        let before = try await Self.snapshot(db)
        let stage = try TestPlans.stage("apply", of: try await Self.plan(db, mode: "insert"))
        let harness = try await StageHarness(stage: stage)
        let error = await #expect(throws: BulkUpdateError.self) { try await harness.run(stage, input: Self.input) }
        #expect(error?.reason == .existingKeys)
        #expect(error?.keys == [TestDatabase.track(1), TestDatabase.track(2)])
        #expect(try await Self.snapshot(db) == before)
        #expect(try await harness.files().isEmpty)  // no undo file for an insert that did not happen

        // New keys only: inserted, and undone by deleting them.
        let fresh = [Batch(columns: Self.columns, rows: [Self.row(5, 50, "ISRC5"), Self.row(6, .null, .null)])]
        let inserting = try await StageHarness(stage: stage)
        _ = try await inserting.run(stage, input: fresh)
        #expect(inserting.counters["inserted"] == 2)
        #expect(inserting.counters["changed"] == 0)
        #expect(try await Self.snapshot(db).count == 4)
        let undo = try Undo(
            runDirectory: inserting.runDirectory, manifest: try ApplyStageTests.manifest(for: inserting),
            plan: try await Self.plan(db, mode: "insert"))
        #expect(try await undo.run(logger: StageHarness.logger).deleted == 2)
        #expect(try await Self.snapshot(db) == before)
    }

    /// What an undo file says of its COMMIT: the transaction's line; none, in a file that marks
    /// its commit, or an empty file, is an apply that stopped before COMMIT; an older file says
    /// nothing.
    @Test func anUndoFileSaysWhetherItsApplyReachedCommit() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-marker-\(UUID())")
        try await BlockingIO.runOnOwnThread {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let header = #"{"columns":["isrc"],"key":"id","stage":"apply","table":"tracks","written":true"#
        let files: [(String, UndoFile.CommitMarker)] = [
            (header + #","marks_commit":true}\#n["a",null,"X"]\#n{"transaction":7812}\#n"#, .transaction(7812)),
            (header + #","marks_commit":true}\#n["a",null,"X"]\#n"#, .none),
            (header + #","marks_commit":true}\#n"#, .none),
            (header + "}\n[\"a\",null,\"X\"]\n", .notMarked),
            // Killed before its header was flushed (waiting for the table's lock): everything is
            // flushed before COMMIT, so it never sent one.
            ("", .none),
        ]
        for (index, (text, marker)) in files.enumerated() {
            let url = directory.appendingPathComponent("\(index).undo.ndjson")
            let read = try await BlockingIO.runOnOwnThread {
                try Data(text.utf8).write(to: url)
                return try UndoFile.commitMarker(at: url)
            }
            #expect(read == marker, "\(text)")
        }
    }

    /// An update's undo file has no `mode` in its header, as before modes existed; it says it
    /// marks its COMMIT, and its last line, written just before COMMIT, names the transaction
    /// (which an older sluice refuses rather than misread).
    @Test func anUpdatesUndoFileNamesItsTransactionLast() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let stage = try TestPlans.stage("apply", of: try await TestPlans.spotify(database: db.conninfo))
        let harness = try await StageHarness(stage: stage)
        _ = try await harness.run(stage, input: ApplyStageTests.input)
        #expect(harness.counters["inserted"] == nil)
        let file = try #require(harness.artifacts("undo").first)
        let lines = try await text(of: file).split(separator: "\n")
        #expect(
            lines.first
                == #"{"columns":["spotify_popularity","isrc"],"key":"id","marks_commit":true,"stage":"apply","table":"tracks","written":true}"#
        )
        let transaction = try #require(lines.last?.wholeMatch(of: #/\{"transaction":([0-9]+)\}/#)?.1)
        let marker = try await BlockingIO.runOnOwnThread { try UndoFile.commitMarker(at: file) }
        #expect(marker == .transaction(Int64(transaction)!))
    }
}
