import Foundation
import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

@testable import Sluice
@testable import SluicePipeline

@Suite struct ApplyStageTests {
    static let columns = ["track_id", "spotify_id", "spotify_popularity", "isrc"]

    static func row(_ n: Int, _ popularity: Value, _ isrc: Value) -> [Value] {
        [.string(TestDatabase.track(n)), .string("sp\(n)"), popularity, isrc]
    }

    /// Track 1 gains an ISRC, 2 a popularity, 3 and 4 already match, 99 is not in the table.
    static let input = [
        Batch(columns: columns, rows: [row(1, 1, "ISRC1"), row(2, 20, .null)]),
        Batch(columns: columns, rows: [row(3, 3, "ISRC3"), row(4, .null, .null), row(99, 7, .null)]),
    ]

    static func applyStage(_ db: TestDatabase, dryRun: Bool = false) async throws -> any Stage {
        try TestPlans.stage("apply", of: try await TestPlans.spotify(database: db.conninfo), dryRun: dryRun)
    }

    /// Rows read back from a recorded spool are written as they are read when their COPY
    /// encoding (up to ~6x the file's text) fits the spool that carries them to the write.
    @Test func aRecordedInputIsWrittenAsItIsReadWhenTheSpoolHoldsIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spool-holds-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let small = directory.appendingPathComponent("small.ndjson")
        #expect(FileManager.default.createFile(atPath: small.path, contents: Data("[1]\n".utf8)))
        #expect(ApplyStage.spoolHolds(small))
        // Sparse: its size is what counts.
        let large = directory.appendingPathComponent("large.ndjson")
        #expect(FileManager.default.createFile(atPath: large.path, contents: nil))
        let handle = try FileHandle(forWritingTo: large)
        try handle.truncate(atOffset: UInt64(BulkUpdate.defaultSpoolLimit / 8 + 1))
        try handle.close()
        #expect(!ApplyStage.spoolHolds(large))
        // A CSV's values take at most four times their text: the same file holds then.
        #expect(ApplyStage.spoolHolds(large, expansion: 4))
        #expect(!ApplyStage.spoolHolds(directory.appendingPathComponent("missing.ndjson")))
    }

    /// A failed or interrupted apply that kept its undo file (its COMMIT's outcome is unknown)
    /// may have applied, until an undo of it is recorded; any other failed apply changed nothing.
    @Test func aFailedApplyThatKeptItsUndoFileMayHaveApplied() {
        var manifest = Manifest(
            runID: "20261205-000000-abcdef", toolVersion: "test",
            plan: .init(path: "plan.yaml", sha256: "00", name: "demo"), resolvedPlan: .object([:]), overrides: [],
            startedAt: Date(timeIntervalSince1970: 1_790_000_000),
            stages: [.init(name: "apply", kind: "apply", parameters: .object([:]), input: nil)])
        manifest.status = .failed
        manifest.stages[0].status = .failed
        #expect(!ApplyStage.mayHaveApplied(manifest))
        manifest.stages[0].outputs = [
            .init(kind: ApplyStage.undoArtifactKind, path: "apply.undo.ndjson", sha256: "0", rows: 3)
        ]
        #expect(ApplyStage.mayHaveApplied(manifest))
        // Interrupted while its COMMIT went unanswered: the stage is cancelled, the same holds.
        manifest.status = .interrupted
        manifest.stages[0].status = .cancelled
        #expect(ApplyStage.stagesThatMayHaveApplied(manifest) == ["apply"])
        manifest.undos = [.init(stage: "apply", undoneAt: Date(), restored: 3, deleted: 0, changedSince: 0)]
        #expect(!ApplyStage.mayHaveApplied(manifest), "undone since")
    }

    /// An apply waiting for another session's lock says so on its progress line, naming the
    /// session, instead of looking like it runs; once the lock is let go the line is clear again.
    @Test func aLockWaitShowsOnTheProgressLineUntilItEnds() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        _ = try await db.connection.execute("BEGIN")
        _ = try await db.connection.execute("LOCK TABLE tracks IN ROW EXCLUSIVE MODE")
        let stage = try await Self.applyStage(db)
        let harness = try await StageHarness(stage: stage)
        harness.context.progress.setStatus(.running)
        let applying = Task { try await harness.run(stage, input: Self.input) }
        let holder = "held by "
        let progress = harness.context.progress
        let shown = try await eventually {
            let figures = ProgressFormat.figures(of: progress, now: .now)
            let text = ProgressFormat.waitingText(figures)
            return text?.hasPrefix("waiting: for a lock on tracks \(holder)") == true
                && text?.contains("server pid \(db.connection.backendPID))") == true
        }
        #expect(shown, "\(String(describing: progress.waiting(at: .now)))")
        _ = try await db.connection.execute("COMMIT")
        _ = try await applying.value
        #expect(progress.waiting(at: .now) == nil)
        #expect(harness.counters["changed"] == 2)
    }

    /// The undo file removed while the apply runs (its run directory deleted): nothing is
    /// committed, since the change could not be undone.
    @Test func anApplyWhoseUndoFileIsRemovedBeforeItCommitsChangesNothing() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        // Each row written takes two seconds (the input changes two): the file is gone well before
        // COMMIT, on a loaded machine too.
        _ = try await db.connection.execute(
            """
            CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(2); RETURN NEW; END $$;
            CREATE TRIGGER slow BEFORE UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION slow()
            """)
        let before = try await db.connection.execute("SELECT * FROM tracks ORDER BY id").rows
        let stage = try await Self.applyStage(db)
        let harness = try await StageHarness(stage: stage)
        let undo = harness.runDirectory.appendingPathComponent(UndoFile.fileName(stage: "apply"))
        let remover = Task {
            let made = try await eventually { await BlockingIO.fileExists(atPath: undo.path) }
            try await BlockingIO.runOnOwnThread { try FileManager.default.removeItem(at: undo) }
            return made
        }
        let error = await #expect(throws: (any Error).self) { try await harness.run(stage, input: Self.input) }
        #expect(try await remover.value)
        #expect(
            "\(error.map { "\($0)" } ?? "")".contains("was removed or replaced while the apply ran"),
            "\(String(describing: error))")
        #expect(try await db.connection.execute("SELECT * FROM tracks ORDER BY id").rows == before)
    }

    /// Unknown keys are listed as they are, but one that would read as two, or as another key
    /// (`a ` with its space, a no-break space, a comma), is quoted with its spaces shown: the list
    /// read `A, a ,  c`.
    @Test func keysThatWouldReadAsOthersAreQuotedInAList() {
        #expect(RowChecker.keyList(["A", "b-2"]) == "A, b-2")
        #expect(
            RowChecker.keyList(["A", "a ", "\u{A0}c", "x,y", "", "it's"])
                == #"A, 'a ', '\u{A0}c', 'x,y', '', it's"#)
        #expect(RowChecker.keyList(["tab\there"]) == #"'tab\there'"#)
    }

    @Test func countsChangedUnchangedAndUnknownRows() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let stage = try await Self.applyStage(db)
        let harness = try await StageHarness(stage: stage)
        let out = try await harness.run(stage, input: Self.input)
        #expect(out.isEmpty)
        #expect(harness.counters["input_rows"] == 5)
        #expect(harness.counters["matched"] == 4)
        #expect(harness.counters["changed"] == 2)
        #expect(harness.counters["unchanged"] == 2)
        #expect(harness.counters["unknown_keys"] == 1)
        #expect(harness.counters["duplicate_rows"] == 0)
        // Track 99's popularity went nowhere: the table holds at least as many values as filled says.
        #expect(harness.counters["filled_spotify_popularity"] == 3)
        #expect(harness.counters["filled_isrc"] == 2)
        #expect(harness.notices.contains { $0.contains("1 id value(s) are not in tracks") })
        // One key in five: more than a tenth, so the notice names the guard-rail that stops it.
        #expect(
            harness.notices.contains {
                $0.contains("that is 20% of the input's 5 keys (max_unknown stops such an apply before it writes)")
            }, "\(harness.notices)")
        let table = try await db.snapshot()
        #expect(table[0] == [.string(TestDatabase.track(1)), 1, "ISRC1"])
        #expect(table[1] == [.string(TestDatabase.track(2)), 20, .null])

        let undo = try #require(harness.artifacts("undo").first)
        #expect(undo.lastPathComponent == "apply.undo.ndjson")
        #expect(try await mode(of: undo) == 0o600)
    }

    @Test func reapplyingChangesNothing() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let stage = try await Self.applyStage(db)
        _ = try await StageHarness(stage: stage).run(stage, input: Self.input)
        let again = try await StageHarness(stage: stage)
        _ = try await again.run(stage, input: Self.input)
        #expect(again.counters["changed"] == 0)
        #expect(again.counters["unchanged"] == 4)
    }

    @Test func emptyPopularityKeepsAndEmptyISRCClears() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let stage = try await Self.applyStage(db)
        let input = [Batch(columns: Self.columns, rows: [Self.row(3, .null, .null), Self.row(5, "", "")])]
        let harness = try await StageHarness(stage: stage)
        _ = try await harness.run(stage, input: input)
        let table = try await db.snapshot()
        #expect(table[2] == [.string(TestDatabase.track(3)), 3, .null])  // popularity kept, ISRC cleared
        #expect(table[4] == [.string(TestDatabase.track(5)), 5, .null])
        #expect(harness.counters["changed"] == 1)
        #expect(harness.counters["filled_spotify_popularity"] == 0)
    }

    @Test func aCheckViolationFailsNamingKeyAndConstraintAndChangesNothing() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let before = try await db.snapshot()
        let stage = try await Self.applyStage(db)
        let harness = try await StageHarness(stage: stage)
        let input = [Batch(columns: Self.columns, rows: [Self.row(1, 50, "A"), Self.row(2, 140, .null)])]
        let error = await #expect(throws: BulkUpdateError.self) { try await harness.run(stage, input: input) }
        #expect(error?.reason == .constraintViolation)
        #expect(error?.constraint == "tracks_spotify_popularity_check")
        #expect(error?.description.contains(TestDatabase.track(2)) == true)
        #expect(try await db.snapshot() == before)
        #expect(try await harness.files().isEmpty)  // no undo file for an update that did not happen
    }

    @Test func dryRunRollsBackAndSaysWhatWouldChange() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let before = try await db.snapshot()
        let stage = try await Self.applyStage(db, dryRun: true)
        let harness = try await StageHarness(stage: stage)
        _ = try await harness.run(stage, input: Self.input)
        #expect(try await db.snapshot() == before)
        #expect(harness.counters["changed"] == 2)
        let notice = try #require(
            harness.notices.first { $0.contains("dry run: 2 of 4 matched rows in tracks would change") })
        #expect(harness.artifacts("undo").isEmpty)
        // It names the keys it would change (here both), so they can be looked up.
        #expect(notice.contains("(e.g. id "), "\(notice)")
        #expect((1...5).filter { notice.contains(TestDatabase.track($0)) }.count == 2, "\(notice)")
    }

    @Test func undoRestoresThePriorValuesExactly() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let before = try await db.snapshot()
        let stage = try await Self.applyStage(db)
        let harness = try await StageHarness(stage: stage)
        let input = [
            Batch(columns: Self.columns, rows: [Self.row(1, 90, "NEW1"), Self.row(3, 30, .null), Self.row(4, 4, "X")])
        ]
        _ = try await harness.run(stage, input: input)
        #expect(try await db.snapshot() != before)

        let manifest = try Self.manifest(for: harness)
        let undo = try Undo(
            runDirectory: harness.runDirectory, manifest: manifest,
            plan: try await TestPlans.spotify(database: db.conninfo))
        let report = try await undo.run(logger: StageHarness.logger)
        #expect(report.rows == 3)
        #expect(report.restored == 3)
        #expect(try await db.snapshot() == before)

        let again = try await undo.run(logger: StageHarness.logger)
        #expect(again.restored == 0)
    }

    /// A row the apply changed and someone deleted since cannot be restored: the undo restores
    /// the rest and names it, left deleted.
    @Test func undoNamesARowDeletedSince() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let stage = try await Self.applyStage(db)
        let harness = try await StageHarness(stage: stage)
        _ = try await harness.run(
            stage, input: [Batch(columns: Self.columns, rows: [Self.row(1, 90, "NEW1"), Self.row(3, 30, .null)])])
        _ = try await db.connection.execute("DELETE FROM tracks WHERE id = '\(TestDatabase.track(3))'")
        let undo = try Undo(
            runDirectory: harness.runDirectory, manifest: try Self.manifest(for: harness),
            plan: try await TestPlans.spotify(database: db.conninfo))
        let report = try await undo.run(logger: StageHarness.logger)
        #expect(report.restored == 1 && report.unknownKeys == 1)
        #expect(
            report.description.contains(
                "1 row the apply changed is no longer in the table (deleted since, left so): id \(TestDatabase.track(3))"
            ),
            "\(report)")
    }

    /// From 50,000 rows on, the prior values are read on a second connection while the UPDATE
    /// runs, from a copy of the input spooled in the run directory: the undo file is as complete,
    /// the spool leaves nothing behind, and undo restores the table.
    @Test func aLargeApplyKeepsEveryPriorValueAndUndoRestoresThem() async throws {
        let count = 50_000
        let db = try await TestDatabase.make(tracks: 0)
        defer { Task { await db.close() } }
        _ = try await db.connection.execute(
            """
            INSERT INTO tracks (id, title, spotify_popularity, isrc)
            SELECT format('00000000-0000-4000-8000-%s', lpad(n::text, 12, '0'))::uuid, 'Track ' || n,
                   CASE WHEN n % 2 = 1 THEN n % 100 END, CASE WHEN n % 3 = 0 THEN 'ISRC' || n END
            FROM generate_series(1, \(count)) AS n
            """)
        let before = try await db.snapshot()
        let stage = try await Self.applyStage(db)
        let harness = try await StageHarness(stage: stage)
        let rows = (1...count).map { Self.row($0, .int(Int64($0 % 101)), .string("NEW\($0)")) }
        let input = stride(from: 0, to: count, by: 5_000).map {
            Batch(columns: Self.columns, rows: Array(rows[$0..<$0 + 5_000]))
        }
        _ = try await harness.run(stage, input: input)
        #expect(harness.counters["changed"] == count)
        let undoFile = try #require(harness.artifacts("undo").first)
        #expect(
            try await text(of: undoFile).split(
                separator: "\n"
            ).count
                == count + 3, "the header, the table's, a line per row, the transaction's")
        #expect(
            try await BlockingIO.runOnOwnThread {
                try FileManager.default.contentsOfDirectory(atPath: harness.runDirectory.path)
            }
            .filter {
                $0.hasPrefix("sluice-copy-")
            }.isEmpty)

        let undo = try Undo(
            runDirectory: harness.runDirectory, manifest: try Self.manifest(for: harness),
            plan: try await TestPlans.spotify(database: db.conninfo))
        let report = try await undo.run(logger: StageHarness.logger)
        #expect(report.restored == count)
        #expect(try await db.snapshot() == before)
    }

    /// Undo files written before they recorded the applied values hold the key and the prior
    /// values only: undo still restores them, unguarded, and says so.
    @Test func anUndoFileWithoutTheWrittenValuesStillRestores() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let before = try await db.snapshot()
        _ = try await db.connection.execute(
            "UPDATE tracks SET spotify_popularity = 90, isrc = 'NEW1' WHERE id = $1", [.string(TestDatabase.track(1))])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-undo-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let lines = [
            #"{"columns":["spotify_popularity","isrc"],"key":"id","stage":"apply","table":"tracks"}"#,
            #"[""# + TestDatabase.track(1) + #"",1,null]"#,
        ]
        try (lines.joined(separator: "\n") + "\n").write(
            to: directory.appendingPathComponent("apply.undo.ndjson"), atomically: true, encoding: .utf8)
        var record = Manifest.StageRecord(name: "apply", kind: "apply", parameters: .null, input: "write-csv")
        record.status = .succeeded
        let manifest = Manifest(
            runID: "old-run", toolVersion: "test", plan: .init(path: "plan.yaml", sha256: "", name: "test"),
            resolvedPlan: .null, overrides: [], startedAt: StageHarness.startedAt, stages: [record])
        let undo = try Undo(
            runDirectory: directory, manifest: manifest, plan: try await TestPlans.spotify(database: db.conninfo))
        let report = try await undo.run(logger: StageHarness.logger)
        #expect(report.restored == 1)
        #expect(!report.checkedChangesSince)
        #expect(report.description.contains("does not record what the apply wrote"))
        #expect(try await db.snapshot() == before)
    }

    @Test func undoRefusesAModifiedFile() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let stage = try await Self.applyStage(db)
        let harness = try await StageHarness(stage: stage)
        _ = try await harness.run(stage, input: Self.input)
        let manifest = try Self.manifest(for: harness)
        let file = try #require(harness.artifacts("undo").first)
        try await BlockingIO.runOnOwnThread {
            let handle = try FileHandle(forWritingTo: file)
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("[\"x\",1,null]\n".utf8))
            try handle.close()
        }
        let undo = try Undo(
            runDirectory: harness.runDirectory, manifest: manifest,
            plan: try await TestPlans.spotify(database: db.conninfo))
        await #expect(throws: UndoError.self) { try await undo.run(logger: StageHarness.logger) }
    }

    /// A BEFORE UPDATE trigger caps popularity at 90 (and touches `updated_at`); with
    /// `capping: false` it only touches `updated_at`.
    static func addTrigger(_ db: TestDatabase, capping: Bool) async throws {
        _ = try await db.connection.execute(
            """
            CREATE FUNCTION tracks_touch() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              NEW.updated_at := now();
              \(capping ? "IF NEW.spotify_popularity > 90 THEN NEW.spotify_popularity := 90; END IF;" : "")
              RETURN NEW;
            END $$;
            CREATE TRIGGER tracks_touch BEFORE UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION tracks_touch()
            """)
    }

    /// The table holds 90 where the apply wrote 95 and 99: the apply says so, and its undo
    /// takes the capped cells for its own writes, restoring every row (it used to leave them,
    /// "changed after the apply", for ever).
    @Test func cellsATriggerCappedAreReportedAndUndoRestoresTheirRows() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        try await Self.addTrigger(db, capping: true)
        let before = try await db.snapshot()
        let stage = try await Self.applyStage(db)
        let harness = try await StageHarness(stage: stage)
        let input = [
            Batch(
                columns: Self.columns,
                rows: [Self.row(1, 95, "NEW1"), Self.row(2, 99, .null), Self.row(3, 30, "ISRC3")])
        ]
        _ = try await harness.run(stage, input: input)
        #expect(harness.counters["changed"] == 3)
        #expect(harness.counters["altered_by_trigger"] == 2)
        let notice = try #require(
            harness.notices.first { $0.contains("a trigger on tracks stored other values than the apply wrote") },
            "\(harness.notices)")
        #expect(notice.contains("in 2 cells of 2 rows"), "\(notice)")
        #expect(notice.contains("\(TestDatabase.track(1)) spotify_popularity 95 -> 90"), "\(notice)")
        #expect(notice.contains("\(TestDatabase.track(2)) spotify_popularity 99 -> 90"), "\(notice)")
        let file = try #require(harness.artifacts("undo").first)
        #expect(try await text(of: file).contains(#"{"stored":[""# + TestDatabase.track(1) + #"",90,"NEW1"]}"#))

        let undo = try Undo(
            runDirectory: harness.runDirectory, manifest: try Self.manifest(for: harness),
            plan: try await TestPlans.spotify(database: db.conninfo))
        let report = try await undo.run(logger: StageHarness.logger)
        #expect(report.changedSince == 0, "\(report)")
        #expect(report.restored == 3)
        #expect(!report.isPartial)
        #expect(try await db.snapshot() == before)
    }

    /// A trigger that stores a value reading the same as the one written (`é` composed where the
    /// apply wrote it decomposed) is named with the codes of the difference, as the review shows
    /// them: the notice read `café -> café`.
    @Test func aTriggersChangeThatDoesNotShowIsNamedWithItsCodes() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        _ = try await db.connection.execute(
            """
            CREATE FUNCTION tracks_nfc() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN NEW.isrc := normalize(NEW.isrc, NFC); RETURN NEW; END $$;
            CREATE TRIGGER tracks_nfc BEFORE UPDATE ON tracks FOR EACH ROW EXECUTE FUNCTION tracks_nfc()
            """)
        let stage = try await Self.applyStage(db)
        let harness = try await StageHarness(stage: stage)
        _ = try await harness.run(
            stage, input: [Batch(columns: Self.columns, rows: [Self.row(1, 95, "cafe\u{301}")])])
        #expect(harness.counters["altered_by_trigger"] == 1)
        let notice = harness.notices.first { $0.contains("stored other values than the apply wrote") } ?? ""
        #expect(
            notice.contains("\(TestDatabase.track(1)) isrc \"cafe\\u{301}\" -> \"caf\\u{E9}\""),
            "\(harness.notices)")
    }

    /// A trigger that touches only `updated_at` stores what the apply wrote: nothing to say.
    @Test func aTriggerTouchingAnotherColumnGivesNoNotice() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        try await Self.addTrigger(db, capping: false)
        let stage = try await Self.applyStage(db)
        let harness = try await StageHarness(stage: stage)
        let input = [Batch(columns: Self.columns, rows: [Self.row(1, 95, "NEW1"), Self.row(2, 99, .null)])]
        _ = try await harness.run(stage, input: input)
        #expect(harness.counters["changed"] == 2)
        // Recorded, as 0: the table has a trigger, and it changed nothing the apply wrote.
        #expect(harness.counters["altered_by_trigger"] == 0)
        #expect(!harness.notices.contains { $0.contains("trigger") }, "\(harness.notices)")
    }

    /// A manifest recording the apply stage and its undo artifact, as the runner writes it.
    static func manifest(for harness: StageHarness) throws -> Manifest {
        var record = Manifest.StageRecord(name: "apply", kind: "apply", parameters: .null, input: "write-csv")
        record.status = .succeeded
        record.outputs = harness.context.artifacts.map {
            Manifest.Artifact(kind: $0.kind, path: $0.url.lastPathComponent, sha256: $0.sha256, rows: $0.rows)
        }
        return Manifest(
            runID: "test-run", toolVersion: "test", plan: .init(path: "plan.yaml", sha256: "", name: "test"),
            resolvedPlan: .null, overrides: [], startedAt: StageHarness.startedAt, stages: [record])
    }
}

/// What `sluice undo` prints when a cell changed since the apply: the rows restored whole, the
/// row restored in part, and the cell left, in the past or (a dry run) the conditional.
@Suite struct UndoReportTests {
    static let partial = UndoReport(
        stage: "apply", table: "books", key: "id", file: URL(fileURLWithPath: "/runs/r/apply.undo.ndjson"), rows: 232,
        matched: 232, restored: 232, unknownKeys: 0, changedSince: 1, changedSinceSamples: ["k1"],
        checkedChangesSince: true, partlyRestored: 1, changedCells: [("pages", 1)])

    @Test func aRowRestoredInPartIsNotCountedAsRestored() {
        #expect(
            Self.partial.description == """
                undo of 'apply': restored 231 (and 1 in part) of 232 rows in books
                not undone: 1 row has cells changed after the apply (by a later apply, a trigger or someone else), \
                left as they are: pages (1 row); id k1; its other cells were restored; to restore them too, undo \
                what changed them (a later apply first), then run this undo again
                """)
        var dry = Self.partial
        dry.dryRun = true
        #expect(
            dry.description.hasPrefix(
                "undo of 'apply' (dry run, rolled back: nothing changed): would restore 231 (and 1 in part) of 232 rows"
            ))
        #expect(dry.description.contains("would be left as they are: pages (1 row); id k1; its other cells would be"))
    }

    /// Of two rows with a cell changed since, one had its other cells restored; after an upsert
    /// the other may be a row it added, which is kept.
    @Test func onlyTheRowsRestoredInPartAreSaidToBe() {
        var report = Self.partial
        report.changedSince = 2
        report.changedSinceSamples = ["k1", "k2"]
        report.deletesInserted = true
        report.deleted = 3
        #expect(report.description.contains("; id k1, k2; the other cells of 1 of them were restored;"))
        #expect(report.description.contains("; a row the apply added is kept, not deleted, when changed since;"))
        report.partlyRestored = 2
        #expect(report.description.contains("; id k1, k2; their other cells were restored;"))
        #expect(!report.description.contains("kept, not deleted"))
    }
}
