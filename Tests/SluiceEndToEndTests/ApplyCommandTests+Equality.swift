import Foundation
import SluicePipeline
import SluiceTestSupport
import Testing

extension ApplyCommandTests {
    /// A `citext` holding `abc` and a file saying `ABC`: citext's `=` calls them equal, and the
    /// review found nothing to change, the apply wrote nothing, exit 0, the new spelling dropped
    /// without a word. It is a change: reviewed, written, undone exactly, and a re-apply of the
    /// file onto a table whose cell someone set to `Abc` since writes `ABC` again; a cell
    /// respelled between a review and its approval has drifted.
    @Test func aCaseOnlyEditOfACitextIsReviewedWrittenAndUndone() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        let (plan, csv) = try await Self.editing(
            "names",
            schema: """
                CREATE EXTENSION IF NOT EXISTS citext;
                CREATE TABLE names (id int PRIMARY KEY, name citext);
                INSERT INTO names VALUES (1, 'abc'), (2, 'same')
                """, columns: ["name"], rows: "id,name\n1,ABC\n2,same\n", in: fixture)
        let (server, conninfo) = (fixture.server, fixture.conninfo)
        func names() async throws -> String? { try await Self.column("name", of: "names", in: fixture) }
        let sluice = fixture.databaseOnly
        let runs = ["--runs-dir", fixture.runsDirectory]
        let (review, gate, approval) = try await Self.reviewedAndApproved(plan: plan, csv: csv, in: fixture)
        #expect(review.contains("1,name,abc,ABC,update"), "\(review)")
        #expect(try await names() == "ABC,same")
        // Approved again: the rows hold the reviewed values; nothing is written, nothing to undo.
        let again = try await sluice.run(["replay", gate.path, "--from", "apply", "--yes"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("applied: 0 of the 1 rows the review would write; 1 of them already held"))
        let undone = try await sluice.run(["undo", approval, "--yes"] + runs)
        #expect(undone.status == 0, "\(undone.stderr)")
        #expect(try await names() == "abc,same")

        // Approved up front; someone respells the cell; the same file again writes it back.
        #expect(try await sluice.run(["apply", plan.path, csv.path, "--yes"] + runs).status == 0)
        #expect(try await names() == "ABC,same")
        _ = try await server.execute("UPDATE names SET name = 'Abc' WHERE id = 1", conninfo: conninfo)
        let reapplied = try await sluice.run(["apply", plan.path, csv.path, "--yes"] + runs)
        #expect(reapplied.status == 0, "\(reapplied.stderr)")
        #expect(try await names() == "ABC,same")

        // Reviewed `ABC` -> `abc`, then respelled `Abc` before the approval: that is drift (the
        // review's fingerprint hashes the text), not a cell to overwrite.
        try await Files.write(Array("id,name\n1,abc\n2,same\n".utf8), to: csv)
        #expect(try await sluice.run(["apply", plan.path, csv.path] + runs).status == 3)
        let second = try #require(await fixture.manifests().last?.directory)
        _ = try await server.execute("UPDATE names SET name = 'Abc' WHERE id = 1", conninfo: conninfo)
        let drifted = try await sluice.run(["replay", second.path, "--from", "apply", "--yes"])
        #expect(drifted.status == 1, "\(drifted.stdout)\n\(drifted.stderr)")
        #expect(try await names() == "Abc,same")
    }

    /// An `interval` holding `1 day` and a file saying `24 hours`: interval's `=` calls them
    /// equal (one length), and the edit was dropped as unchanged, though a `timestamptz` plus
    /// one crosses a DST change differently from the other. It is a change: reviewed, written,
    /// written once, and undone exactly.
    @Test func anIntervalRespelledToTheSameLengthIsReviewedWrittenAndUndone() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        let (plan, csv) = try await Self.editing(
            "spans",
            schema: """
                CREATE TABLE spans (id int PRIMARY KEY, span interval);
                INSERT INTO spans VALUES (1, '1 day'), (2, '1 hour')
                """, columns: ["span"], rows: "id,span\n1,24 hours\n2,01:00:00\n", in: fixture)
        func spans() async throws -> String? { try await Self.column("span", of: "spans", in: fixture) }
        let sluice = fixture.databaseOnly
        let runs = ["--runs-dir", fixture.runsDirectory]
        let (review, _, approval) = try await Self.reviewedAndApproved(plan: plan, csv: csv, in: fixture)
        #expect(review.contains("1,span,1 day,24:00:00,update") && !review.contains("\n2,"), "\(review)")
        #expect(try await spans() == "24:00:00,01:00:00")
        let again = try await sluice.run(["apply", plan.path, csv.path, "--yes"] + runs)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("applied: nothing to change"), "\(again.stdout)")
        let undone = try await sluice.run(["undo", approval, "--yes"] + runs)
        #expect(undone.status == 0, "\(undone.stderr)")
        #expect(try await spans() == "1 day,01:00:00")
    }

    /// A column the apply wrote, dropped since: the undo refused whole, restoring nothing. It
    /// restores the other columns, names the dropped one (its prior values stay in the undo
    /// file), exits 6 and leaves the run partly undone; again, it changes nothing more.
    @Test func anUndoAfterAWrittenColumnWasDroppedRestoresTheOthersAndIsPartial() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        let (plan, csv) = try await Self.editing(
            "pairs",
            schema: """
                CREATE TABLE pairs (id int PRIMARY KEY, qty int, label text);
                INSERT INTO pairs VALUES (1, 1, 'one'), (2, 2, 'two')
                """, columns: ["qty", "label"], rows: "id,qty,label\n1,101,uno\n2,102,dos\n", in: fixture)
        let sluice = fixture.databaseOnly
        let runs = ["--runs-dir", fixture.runsDirectory]
        let applied = try await sluice.run(["apply", plan.path, csv.path, "--yes"] + runs)
        #expect(applied.status == 0, "\(applied.stderr)")
        let run = try #require(await fixture.manifests().last)
        _ = try await fixture.server.execute("ALTER TABLE pairs DROP COLUMN label", conninfo: fixture.conninfo)
        func qty() async throws -> String? { try await Self.column("qty", of: "pairs", in: fixture) }
        let undone = try await sluice.run(["undo", run.manifest.runID, "--yes"] + runs)
        let said = undone.stdout + undone.stderr
        #expect(undone.status == 6, "\(said)")
        #expect(try await qty() == "1,2")
        #expect(
            said.contains(
                "not undone: column label was dropped from pairs after the apply, so its prior values in the "
                    + "2 rows still in the table cannot be put back"), "\(said)")
        let undoFile = run.directory.appendingPathComponent("apply.undo.ndjson")
        #expect(try await Files.text(undoFile).contains("\"one\""))
        let record = try #require(await fixture.manifests().first { $0.manifest.runID == run.manifest.runID })
        #expect(
            record.manifest.undos.count == 1 && record.manifest.undos[0].changedSince == 2, "\(record.manifest.undos)")
        let again = try await sluice.run(["undo", run.manifest.runID, "--yes"] + runs)
        #expect(again.status == 6, "\(again.stdout)\n\(again.stderr)")
        #expect(try await qty() == "1,2")
    }

    /// A review approved twice: the second approval finds every row holding the reviewed values.
    /// It changes nothing, says so, and is no later apply that keeps the first approval from
    /// being undone, which puts back exactly the values before it.
    @Test func aSecondApprovalChangesNothingAndTheFirstStillUndoes() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        let (sluice, gate) = try await Self.stopAtTheGate(qtyTable: "twice", in: fixture)
        func qty() async throws -> String? { try await Self.column("qty", of: "twice", in: fixture) }
        let first = try await sluice.run(["replay", gate.path, "--from", "apply", "--yes"])
        #expect(first.status == 0, "\(first.stderr)")
        let approval = try #require(await fixture.manifests().last?.manifest.runID)
        #expect(try await qty() == "101,102,103")
        let second = try await sluice.run(["replay", gate.path, "--from", "apply", "--yes"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("applied: 0 of the 3 rows the review would write; 3 of them already held"))
        let noOp = try #require(await fixture.manifests().last?.manifest)
        #expect(noOp.stage("apply")?.outputs.first { $0.kind == "undo" }?.rows ?? 0 == 0, "\(noOp)")
        let noOpUndo = try await sluice.run(["undo", noOp.runID, "--yes", "--runs-dir", fixture.runsDirectory])
        #expect(noOpUndo.status == 0, "\(noOpUndo.stderr)")
        #expect(
            noOpUndo.stderr.contains("run \(noOp.runID) changed nothing (the rows already held its values): nothing"),
            "\(noOpUndo.stderr)")
        let undone = try await sluice.run(["undo", approval, "--yes", "--runs-dir", fixture.runsDirectory])
        #expect(undone.status == 0, "\(undone.stderr)")
        #expect(try await qty() == "1,2,3")
    }

    /// `schema` run (it makes and fills `table`, whose SELECT and UPDATE are granted to the role
    /// sluice runs as), a plan applying `columns` to it, and `rows` written as its CSV file.
    static func editing(
        _ table: String, schema: String, columns: [String], rows: String, in fixture: EnrichmentFixture
    ) async throws -> (plan: URL, csv: URL) {
        _ = try await fixture.server.execute(
            schema + ";\nGRANT SELECT, UPDATE ON \(table) TO \(TestPostgres.passwordRole)", conninfo: fixture.conninfo)
        let plan = try await tablePlan(table, columns: columns, in: fixture)
        let csv = fixture.directory.appendingPathComponent("\(table).csv")
        try await Files.write(Array(rows.utf8), to: csv)
        return (plan, csv)
    }

    /// `sluice apply plan csv` stopped at its gate, then approved (`replay --from apply --yes`):
    /// the review's CSV, the gate's run directory and the approving run.
    static func reviewedAndApproved(
        plan: URL, csv: URL, in fixture: EnrichmentFixture
    ) async throws -> (review: String, gate: URL, approval: String) {
        let sluice = fixture.databaseOnly
        let stopped = try await sluice.run(["apply", plan.path, csv.path, "--runs-dir", fixture.runsDirectory])
        #expect(stopped.status == 3, "\(stopped.stderr)\n\(stopped.stdout)")
        let gate = try #require(await fixture.manifests().last?.directory)
        let review = try await Files.text(gate.appendingPathComponent("review.csv"))
        let approved = try await sluice.run(["replay", gate.path, "--from", "apply", "--yes"])
        #expect(approved.status == 0, "\(approved.stderr)")
        return (review, gate, try #require(await fixture.manifests().last?.manifest.runID))
    }

    /// `column` of every row of `table` as text, by `id`, comma-separated.
    static func column(_ column: String, of table: String, in fixture: EnrichmentFixture) async throws -> String? {
        try await fixture.server.execute(
            "SELECT string_agg(\(column)::text, ',' ORDER BY id) FROM \(table)", conninfo: fixture.conninfo
        ).scalar.text
    }
}
