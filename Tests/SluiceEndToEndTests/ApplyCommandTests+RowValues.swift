import Foundation
import SluiceCore
import SluiceTestSupport
import Testing

extension ApplyCommandTests {
    /// The server's detail of a refused row is the whole row (`Failing row contains (3,
    /// pw-three, -3, c3)`), a unique key's may hold columns the plan does not write (`Key
    /// (secret, code)=(...)`): an apply, its approval and an undo printed it and kept it in the
    /// run's record. Now the row is named by its key and the values written, and located in the
    /// file, and no value of another column reaches the output or a file of the runs.
    @Test func aRefusedRowIsNamedByItsKeyNeverByTheValuesOfColumnsThePlanDoesNotWrite() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE TABLE people (
                id int PRIMARY KEY, secret text, qty int NOT NULL CHECK (qty >= 0), code text, UNIQUE (secret, code));
            INSERT INTO people VALUES (1, 'hunter2-shared', 1, 'c1'), (2, 'hunter2-shared', 2, 'c2'), (3, 'pw-three', 3, 'c3');
            GRANT SELECT, UPDATE ON people TO \(TestPostgres.passwordRole)
            """, conninfo: fixture.conninfo)
        let plan = try await Self.tablePlan("people", columns: ["qty", "code"], in: fixture)
        let table = {
            try await fixture.server.execute("SELECT * FROM people ORDER BY id", conninfo: fixture.conninfo).rows
        }
        let before = try await table()
        let sluice = fixture.databaseOnly
        var outputs: [String] = []
        for (name, text, located) in [
            (
                "check.csv", "id,qty,code\n1,5,c1\n3,-3,c3\n",
                ":3:3: error: column 'qty': '-3' for id 3 violates constraint \"people_qty_check\""
            ),
            ("null.csv", "id,qty,code\n1,5,c1\n3,,c3\n", ":3:3: error: column 'qty': "),
            (
                "unique.csv", "id,qty,code\n1,5,c1\n2,2,c1\n",
                ":3:5: error: column 'code': 'c1' for id 2 violates constraint \"people_secret_code_key\""
            ),
        ] {
            let file = fixture.directory.appendingPathComponent(name)
            try await Files.write(Array(text.utf8), to: file)
            let refused = try await sluice.run([
                "apply", plan.path, file.path, "--runs-dir", fixture.runsDirectory, "--yes",
            ])
            let said = refused.stdout + refused.stderr
            outputs.append(said)
            #expect(refused.status == 1, "\(name): \(said)")
            #expect(refused.stderr.contains(file.path + located), "\(name): \(said)")
            #expect(try await table() == before, "\(name)")
        }
        // Approved after its review, the same.
        let file = fixture.directory.appendingPathComponent("check.csv")
        let gate = try await sluice.run(["apply", plan.path, file.path, "--runs-dir", fixture.runsDirectory])
        #expect(gate.status == 3, "\(gate.stdout + gate.stderr)")
        let reviewed = try await fixture.lastRunDirectory()
        let approval = try await sluice.run(["replay", reviewed.path, "--from", "apply", "--yes"])
        outputs.append(approval.stdout + approval.stderr)
        #expect(approval.status == 1, "\(approval.stdout + approval.stderr)")
        #expect(approval.stderr.contains("for id 3 violates constraint \"people_qty_check\""), "\(approval.stderr)")
        #expect(try await table() == before)

        // An undo whose prior value a constraint added since refuses.
        let valid = fixture.directory.appendingPathComponent("valid.csv")
        try await Files.write(Array("id,qty,code\n1,5,c1\n".utf8), to: valid)
        let applied = try await sluice.run([
            "apply", plan.path, valid.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(applied.status == 0, "\(applied.stdout + applied.stderr)")
        let run = try await fixture.lastRunDirectory()
        _ = try await fixture.server.execute(
            "ALTER TABLE people ADD CONSTRAINT qty_from_five CHECK (qty >= 5) NOT VALID", conninfo: fixture.conninfo)
        let undo = try await sluice.run(["undo", run.path, "--yes"])
        let undoSaid = undo.stdout + undo.stderr
        outputs.append(undoSaid)
        #expect(undo.status == 1, "\(undoSaid)")
        #expect(undoSaid.contains("key 1 (qty = 1, code = c1) violates constraint \"qty_from_five\""), "\(undoSaid)")
        #expect(undoSaid.contains("nothing was changed"), "\(undoSaid)")

        let secrets = ["hunter2", "pw-three"]
        let leaks = outputs.filter { said in secrets.contains { said.contains($0) } }
        #expect(leaks.isEmpty, "\(leaks)")
        let files = try await Files.everyFile(under: URL(fileURLWithPath: fixture.runsDirectory))
        let leaking = files.filter { file in secrets.contains { file.text.contains($0) } }.map(\.url.path)
        #expect(!files.isEmpty && leaking.isEmpty, "\(leaking)")
    }

    /// A new row a row-level security policy's WITH CHECK refuses was "new row violates
    /// row-level security policy for table "docs"", no row, no policy: it is now located at its
    /// line and column, named by its key and the policy, for the apply and its approval, and
    /// nothing is changed. A restrictive policy is named alone.
    @Test func aNewRowARowLevelSecurityPolicyRefusesIsLocatedAndThePolicyNamed() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        let (plan, csv, table) = try await Self.docs(
            policies:
                "everyone_reads ON docs FOR SELECT USING (true); "
                + "CREATE POLICY below_103 ON docs FOR UPDATE USING (true) WITH CHECK (qty < 103)",
            in: fixture)
        let sluice = fixture.databaseOnly
        let gate = try await sluice.run(["apply", plan.path, csv.path, "--runs-dir", fixture.runsDirectory])
        #expect(gate.status == 3, "\(gate.stdout + gate.stderr)")
        let reviewed = try await fixture.lastRunDirectory()
        let located = csv.path + ":4:3: error: column 'qty': '103' for id 3 is refused by the row-level security of "
        for command in Self.applyAndApproval(plan, csv, reviewed: reviewed, in: fixture) {
            let refused = try await sluice.run(command)
            let said = refused.stdout + refused.stderr
            #expect(refused.status == 1, "\(said)")
            #expect(refused.stderr.contains(located + "docs (policy below_103)"), "\(said)")
            #expect(said.contains("key 3 (qty = 103) is refused by the row-level security of docs"), "\(said)")
            #expect(said.contains("nothing was changed"), "\(said)")
            #expect(try await table() == "1,2,3,4")
        }
        _ = try await fixture.server.execute(
            "CREATE POLICY not_102 ON docs AS RESTRICTIVE FOR UPDATE USING (true) WITH CHECK (qty <> 102)",
            conninfo: fixture.conninfo)
        let restricted = try await sluice.run([
            "apply", plan.path, csv.path, "--runs-dir", fixture.runsDirectory, "--yes",
        ])
        #expect(restricted.status == 1, "\(restricted.stderr)")
        let second = csv.path + ":3:3: error: column 'qty': '102' for id 2 is refused by the row-level security of "
        #expect(restricted.stderr.contains(second + "docs (policy not_102)"), "\(restricted.stderr)")
        #expect(try await table() == "1,2,3,4")
    }

    /// An upsert's or insert's row a policy refused was said in PostgreSQL's words alone (`new
    /// row violates row-level security policy for table "stock"`). Now the row is named and
    /// located as an update's: an updated row by the UPDATE policy it fails (its new values the
    /// WITH CHECK, the row as it was the USING), an added one by the INSERT policy, and nothing is
    /// changed.
    @Test func anAddedOrUpsertedRowARowLevelSecurityPolicyRefusesIsLocatedAndThePolicyNamed() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE TABLE stock (id int PRIMARY KEY, owner text, qty int);
            INSERT INTO stock VALUES (1, 'a', 1), (2, 'b', 2), (3, 'a', 3), (4, 'b', 4);
            GRANT SELECT, INSERT, UPDATE ON stock TO \(TestPostgres.passwordRole);
            ALTER TABLE stock ENABLE ROW LEVEL SECURITY;
            CREATE POLICY everyone_reads ON stock FOR SELECT USING (true);
            CREATE POLICY below_103 ON stock FOR UPDATE USING (true) WITH CHECK (qty < 103);
            CREATE POLICY adds_below_105 ON stock FOR INSERT WITH CHECK (qty < 105);
            CREATE POLICY not_from_2 ON stock AS RESTRICTIVE FOR UPDATE USING (qty <> 2) WITH CHECK (true)
            """, conninfo: fixture.conninfo)
        let refusals = try await Self.unlocatedRefusals(
            of: [
                (
                    "upsert", "id,qty\n1,101\n3,103\n5,104\n",
                    ":3:3: error: column 'qty': '103' for id 3 is refused by the row-level security of stock (policy below_103)"
                ),
                (
                    "upsert", "id,qty\n1,101\n5,105\n",
                    ":3:3: error: column 'qty': '105' for id 5 is refused by the row-level security of stock (policy adds_below_105)"
                ),
                (
                    "insert", "id,qty\n5,104\n6,106\n",
                    ":3:3: error: column 'qty': '106' for id 6 is refused by the row-level security of stock (policy adds_below_105)"
                ),
                // The row as it is, before its update, fails the UPDATE policy's USING.
                (
                    "upsert", "id,qty\n1,101\n2,102\n",
                    ":3:3: error: column 'qty': '102' for id 2 is refused by the row-level security of stock (policy not_from_2)"
                ),
            ], table: "stock", column: "qty", in: fixture)
        #expect(refusals.isEmpty, "\(refusals)")
    }

    /// Row-level security with no permissive policy for a command refuses every row of it
    /// (PostgreSQL's default deny). An added row was said in PostgreSQL's words alone, as no
    /// policy was there to name: it is now located, and the message says that no policy lets
    /// this role add a row.
    @Test func anAddedRowNoPolicyPermitsIsLocatedAndTheDefaultDenySaid() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE TABLE ledger (id int PRIMARY KEY, qty int);
            INSERT INTO ledger VALUES (1, 1), (2, 2);
            GRANT SELECT, INSERT, UPDATE ON ledger TO \(TestPostgres.passwordRole);
            ALTER TABLE ledger ENABLE ROW LEVEL SECURITY;
            CREATE POLICY everyone_reads ON ledger FOR SELECT USING (true);
            CREATE POLICY everyone_updates ON ledger FOR UPDATE USING (true)
            """, conninfo: fixture.conninfo)
        let denied =
            "is refused by the row-level security of ledger (no policy lets this role INSERT any row: "
            + "row-level security refuses what no permissive policy allows)"
        let refusals = try await Self.unlocatedRefusals(
            of: [
                // The whole row is refused: located at its key. The lowest key is the first.
                ("insert", "id,qty\n6,106\n5,105\n", ":3:1: error: column 'id': '5' for id 5 \(denied)"),
                // An upsert proposes every row for INSERT first, one that exists too.
                ("upsert", "id,qty\n1,101\n5,105\n", ":2:1: error: column 'id': '1' for id 1 \(denied)"),
            ], table: "ledger", column: "qty", in: fixture)
        #expect(refusals.isEmpty, "\(refusals)")
    }

    /// Of the rows two policies refuse, the first by key is named, numbers by their value: key 9
    /// before key 10 (compared as text, "10" came first).
    @Test func theFirstRowByNumericKeyIsNamedAcrossPolicies() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE TABLE tally (id int PRIMARY KEY, qty int);
            INSERT INTO tally SELECT i, i FROM generate_series(1, 10) AS i;
            GRANT SELECT, UPDATE ON tally TO \(TestPostgres.passwordRole);
            ALTER TABLE tally ENABLE ROW LEVEL SECURITY;
            CREATE POLICY everyone ON tally USING (true);
            CREATE POLICY a_not_109 ON tally AS RESTRICTIVE FOR UPDATE USING (true) WITH CHECK (qty <> 109);
            CREATE POLICY b_not_110 ON tally AS RESTRICTIVE FOR UPDATE USING (true) WITH CHECK (qty <> 110)
            """, conninfo: fixture.conninfo)
        let refusals = try await Self.unlocatedRefusals(
            of: [
                (
                    "update", "id,qty\n10,110\n9,109\n",
                    ":3:3: error: column 'qty': '109' for id 9 is refused by the row-level security of tally (policy a_not_109)"
                ),
                (
                    "update", "id,qty\n9,110\n10,109\n",
                    ":2:3: error: column 'qty': '110' for id 9 is refused by the row-level security of tally (policy b_not_110)"
                ),
            ], table: "tally", column: "qty", in: fixture)
        #expect(refusals.isEmpty, "\(refusals)")
    }

    /// A row an exclusion constraint refuses (`conflicting key value violates exclusion constraint
    /// "no_overlap"`) was named by no row: it is now the first row whose new values conflict with
    /// a row of the table or with another row written, located in the file, and nothing is changed.
    @Test func aRowAnExclusionConstraintRefusesIsLocated() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE EXTENSION IF NOT EXISTS btree_gist;
            CREATE TABLE bookings (id int PRIMARY KEY, room int, during int4range,
                CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&));
            INSERT INTO bookings VALUES (1, 1, '[1,5)'), (2, 1, '[5,9)'), (3, 2, '[1,5)');
            GRANT SELECT, UPDATE ON bookings TO \(TestPostgres.passwordRole)
            """, conninfo: fixture.conninfo)
        let failures = try await Self.unlocatedRefusals(
            of: [
                // Row 1 moved onto row 2's stay in the same room; row 3 is in another room.
                (
                    "update", "id,during\n3,\"[6,8)\"\n1,\"[6,8)\"\n",
                    ":3:3: error: column 'during': '[6,8)' for id 1 violates constraint \"no_overlap\""
                ),
                // Rows 1 and 2 moved onto each other.
                (
                    "update", "id,during\n1,\"[20,30)\"\n2,\"[25,26)\"\n",
                    ":2:3: error: column 'during': '[20,30)' for id 1 violates constraint \"no_overlap\""
                ),
            ], table: "bookings", column: "during", in: fixture)
        #expect(failures.isEmpty, "\(failures)")
    }

    /// A constraint whose refused row is not found (here a CHECK over a column an insert leaves
    /// to a serial's sequence, whose next value the search does not take) was only `a row violates
    /// constraint "lim_positive"`: it now says the constraint's definition too, and that nothing
    /// was changed.
    @Test func aConstraintWhoseRowIsNotFoundIsSaidWithItsDefinition() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE SEQUENCE downwards START -1 INCREMENT -1;
            CREATE TABLE limits (
                id int PRIMARY KEY, qty int, lim int DEFAULT nextval('downwards') CONSTRAINT lim_positive CHECK (lim > 0));
            GRANT SELECT, INSERT, UPDATE ON limits TO \(TestPostgres.passwordRole);
            GRANT USAGE ON SEQUENCE downwards TO \(TestPostgres.passwordRole)
            """, conninfo: fixture.conninfo)
        let plan = try await Self.tablePlan("limits", columns: ["qty"], in: fixture)
        let csv = fixture.directory.appendingPathComponent("limits.csv")
        try await Files.write(Array("id,qty\n1,5\n".utf8), to: csv)
        let refused = try await fixture.databaseOnly.run([
            "apply", plan.path, csv.path, "--runs-dir", fixture.runsDirectory, "--yes", "--set", "apply.mode=insert",
        ])
        let said = refused.stdout + refused.stderr
        #expect(refused.status == 1, "\(said)")
        #expect(said.contains("a row violates constraint \"lim_positive\" (CHECK ((lim > 0)))"), "\(said)")
        #expect(said.contains("nothing was changed"), "\(said)")
        let rows = try await fixture.server.execute("SELECT count(*) FROM limits", conninfo: fixture.conninfo)
        #expect(rows.scalar.text == "0")
    }

    /// A refusal over a column the plan does not write was searched for with NULL there, not the
    /// default the server gives it: a CHECK over `status DEFAULT 'draft'`, or a policy over `owner
    /// DEFAULT current_user`, found no row and was said in PostgreSQL's words alone; and so was a
    /// CHECK over a generated column, which held its old value, or none for an added row. The
    /// default is now evaluated in the search, the generated column computed from the row, and
    /// the refused row located.
    @Test func aRefusalOverAColumnLeftToItsDefaultIsLocated() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE TABLE orders (id int PRIMARY KEY, qty int, status text DEFAULT 'draft',
                CONSTRAINT drafts_small CHECK (status <> 'draft' OR qty < 10));
            INSERT INTO orders VALUES (1, 1, 'live');
            CREATE TABLE notes (id int PRIMARY KEY, qty int, owner text DEFAULT current_user);
            INSERT INTO notes VALUES (1, 1, 'warehouse');
            CREATE TABLE boxes (id int PRIMARY KEY, qty int,
                total int GENERATED ALWAYS AS (qty * 10) STORED CONSTRAINT total_small CHECK (total < 100));
            INSERT INTO boxes (id, qty) VALUES (1, 1);
            GRANT SELECT, INSERT, UPDATE ON orders, notes, boxes TO \(TestPostgres.passwordRole);
            ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
            CREATE POLICY everyone ON notes FOR SELECT USING (true);
            CREATE POLICY everyone_updates ON notes FOR UPDATE USING (true);
            CREATE POLICY warehouse_adds_big ON notes FOR INSERT WITH CHECK (owner = 'warehouse' OR qty < 100)
            """, conninfo: fixture.conninfo)
        var refusals: [String] = []
        for (name, cases) in [
            (
                "orders",
                [
                    (
                        "insert", "id,qty\n2,5\n3,50\n",
                        ":3:1: error: column 'id': '3' for id 3 violates constraint \"drafts_small\""
                    ),
                    (
                        "upsert", "id,qty\n1,5\n4,40\n",
                        ":3:1: error: column 'id': '4' for id 4 violates constraint \"drafts_small\""
                    ),
                    // The row an upsert proposes is checked before its key is found in the table.
                    (
                        "upsert", "id,qty\n1,50\n5,5\n",
                        ":2:1: error: column 'id': '1' for id 1 violates constraint \"drafts_small\""
                    ),
                ]
            ),
            (
                "boxes",
                [
                    (
                        "insert", "id,qty\n2,5\n3,50\n",
                        ":3:1: error: column 'id': '3' for id 3 violates constraint \"total_small\""
                    ),
                    (
                        "update", "id,qty\n1,50\n",
                        ":2:1: error: column 'id': '1' for id 1 violates constraint \"total_small\""
                    ),
                ]
            ),
            (
                "notes",
                [
                    (
                        "insert", "id,qty\n2,5\n3,500\n",
                        ":3:3: error: column 'qty': '500' for id 3 is refused by the row-level security of notes "
                            + "(policy warehouse_adds_big)"
                    )
                ]
            ),
        ] {
            refusals += try await Self.unlocatedRefusals(
                of: cases, table: name, column: "qty", in: fixture)
        }
        #expect(refusals.isEmpty, "\(refusals)")
    }

    /// The search for a refused row takes no serial's next value (a sequence's values are not
    /// given back when the transaction rolls back): a serial column the plan does not write is
    /// NULL there. The apply's own INSERT takes one per row it gets to, the search none more.
    @Test func theSearchForARefusedRowTakesNoSequenceValue() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 1)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            CREATE TABLE tickets (id int PRIMARY KEY, n serial, qty int CONSTRAINT small CHECK (qty < 100));
            GRANT SELECT, INSERT, UPDATE ON tickets TO \(TestPostgres.passwordRole);
            GRANT USAGE ON SEQUENCE tickets_n_seq TO \(TestPostgres.passwordRole);
            SELECT setval('tickets_n_seq', 1000)
            """, conninfo: fixture.conninfo)
        let refusals = try await Self.unlocatedRefusals(
            of: [
                (
                    "insert", "id,qty\n1,5\n2,500\n3,7\n",
                    ":3:1: error: column 'id': '2' for id 2 violates constraint \"small\""
                )
            ], table: "tickets", column: "qty", in: fixture)
        let last = try await fixture.server.execute(
            "SELECT last_value FROM tickets_n_seq", conninfo: fixture.conninfo
        ).scalar.text
        // At most one value per input row, all of them the INSERT's.
        #expect(refusals.isEmpty && (Int(last ?? "") ?? .max) <= 1003, "\(refusals) \(last ?? "nil")")
    }

    /// Applies each case's CSV text (`mode`: the plan's `apply.mode`) with a plan writing `column`
    /// of `name` (keyed by `id`), as `NAME.csv` in the fixture's directory: what each that did not
    /// fail (1) with an error at `located` in the file, said nothing was changed, and left the
    /// table's `id:column` pairs as they were, said.
    static func unlocatedRefusals(
        of cases: [(mode: String, text: String, located: String)], table name: String, column: String,
        in fixture: EnrichmentFixture
    ) async throws -> [String] {
        let plan = try await tablePlan(name, columns: [column], in: fixture)
        let table = {
            try await fixture.server.execute(
                "SELECT string_agg(id || ':' || \(column), ',' ORDER BY id) FROM \(name)", conninfo: fixture.conninfo
            ).scalar.text
        }
        let before = try await table()
        let csv = fixture.directory.appendingPathComponent("\(name).csv")
        var failures: [String] = []
        for (mode, text, located) in cases {
            try await Files.write(Array(text.utf8), to: csv)
            let refused = try await fixture.databaseOnly.run([
                "apply", plan.path, csv.path, "--runs-dir", fixture.runsDirectory, "--yes", "--set",
                "apply.mode=\(mode)",
            ])
            let said = refused.stdout + refused.stderr
            let unchanged = try await table() == before
            if refused.status != 1 || !refused.stderr.contains(csv.path + located)
                || !said.contains("nothing was changed") || !unchanged
            {
                failures.append("\(mode) \(text): \(refused.status) \(unchanged) \(said)")
            }
        }
        return failures
    }

    /// The command lines of an apply of `csv` approved up front, and of the approval of the
    /// review `reviewed` stopped at: the two ways a reviewed write runs.
    static func applyAndApproval(_ plan: URL, _ csv: URL, reviewed: URL, in fixture: EnrichmentFixture) -> [[String]] {
        [
            ["apply", plan.path, csv.path, "--runs-dir", fixture.runsDirectory, "--yes"],
            ["replay", reviewed.path, "--from", "apply", "--yes"],
        ]
    }
}
