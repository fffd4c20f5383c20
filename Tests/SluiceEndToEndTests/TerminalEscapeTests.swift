import APIFixtureServer
import Foundation
import SluiceCore
import SluiceTestSupport
import Testing

/// What sluice prints never acts on the terminal it is printed on: a value from the data (a CSV
/// cell, a table's text) or an API's error body holding an escape sequence reaches the user's
/// screen as the codes of its characters, wherever a message quotes it — a server's refusal, a
/// fetch error, the run summary — while `--json` stays the same JSON.
@Suite(.serialized)
struct TerminalEscapeTests {
    /// Clears the screen, retitles the window (ended by a BEL), and writes over its line.
    static let injected = "7\u{1B}[2J\u{1B}]0;pwned\u{07}\r"
    /// How a message shows it.
    static let shown = #"7\u{1B}[2J\u{1B}]0;pwned\u{7}\r"#

    /// Whether `text` holds a character a terminal acts on, other than a line feed or a tab.
    static func acts(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0 != "\n" && $0 != "\t" && $0.properties.generalCategory == .control }
    }

    /// PostgreSQL refuses the value for an integer column and quotes it back
    /// (`invalid input syntax for type integer: "..."`): from a CSV given to `sluice apply`, from
    /// a run's own rows, and in a run's `--json`, which holds the value itself.
    @Test func aValueTheDatabaseRefusesIsShownAsItsCodes() async throws {
        let schema = """
            CREATE TABLE books (id uuid PRIMARY KEY, sku text, score int);
            INSERT INTO books VALUES ('\(RESTPlanTests.uuid(1))', E'\(Self.sqlEscaped(Self.injected))', NULL);
            """
        let fixture = try await RESTPlanTests.vendorFixture(
            schema: schema, api: FixtureAPI(shape: .itemBody(path: "/v1/score", idKey: "sku"), answers: [:]))
        defer { Task { await fixture.tearDown() } }
        let runs = fixture.directory.appendingPathComponent("runs").path

        // A plan applying the table's own text to its integer column.
        let copy = fixture.directory.appendingPathComponent("copy.yaml")
        try await Files.write(
            Array(
                """
                version: 1
                name: copy
                connections:
                  db: { kind: postgres, url: "${DATABASE_URL}" }
                stages:
                  - { name: query, kind: query, connection: db, sql: "SELECT id AS book_id, sku AS score FROM books" }
                  - { name: apply, kind: apply, connection: db, table: books, key: id, key_field: book_id, columns: { score: {} } }

                """.utf8), to: copy)

        // A CSV whose score cell holds the sequence (quoted, for its carriage return).
        let csv = fixture.directory.appendingPathComponent("scores.csv")
        try await Files.write(Array("book_id,score\n\(RESTPlanTests.uuid(1)),\"\(Self.injected)\"\n".utf8), to: csv)
        let applied = try await fixture.sluice.run(["apply", copy.path, csv.path, "--runs-dir", runs, "--yes"])
        #expect(applied.status == 1, "\(applied.stderr)")
        #expect(
            applied.stderr.contains("invalid input syntax for type integer: \"\(Self.shown)\""), "\(applied.stderr)")
        #expect(!Self.acts(applied.stderr) && !Self.acts(applied.stdout), "\(applied.stderr)\(applied.stdout)")

        // The run itself.
        let ran = try await fixture.run(copy.path)
        #expect(ran.status == 1, "\(ran.stderr)")
        #expect(
            (ran.stdout + ran.stderr).contains("invalid input syntax for type integer: \"\(Self.shown)\""),
            "\(ran.stdout)\(ran.stderr)")
        #expect(!Self.acts(ran.stderr) && !Self.acts(ran.stdout), "\(ran.stderr)\(ran.stdout)")

        // `--json`: JSON escapes the characters itself, and the value reads back as it was.
        let json = try await fixture.run(copy.path, ["--json"])
        #expect(json.status == 1, "\(json.stderr)")
        #expect(!Self.acts(json.stderr) && !Self.acts(json.stdout), "\(json.stderr)\(json.stdout)")
        let decoded = try JSON.decode(json.stdout)
        #expect(
            JSON.encode(decoded).contains(#"integer: \"7\u001b[2J\u001b]0;pwned\u0007\r\""#), "\(json.stdout)")
    }

    /// An API whose error body holds the sequence: the fetch error quoting it, on stderr, in the
    /// summary and in the log of each retry, shows its codes.
    @Test func anAPIErrorBodyInAFetchErrorIsShownAsItsCodes() async throws {
        var api = FixtureAPI(shape: .itemBody(path: "/v1/score", idKey: "sku"), answers: [:])
        api.requiredHeader = ("X-Api-Key", "k3y")
        api.failing = ["s1"]
        api.failureMessage = "backend \(Self.injected) down"
        let fixture = try await RESTPlanTests.vendorFixture(
            schema: """
                CREATE TABLE books (id uuid PRIMARY KEY, sku text, score int);
                INSERT INTO books VALUES ('\(RESTPlanTests.uuid(1))', 's1', NULL);
                """, api: api)
        defer { Task { await fixture.tearDown() } }
        let plan = fixture.directory.appendingPathComponent("vendor.yaml")
        try await Files.write(
            Array(
                RESTPlanTests.vendorPlan(
                    sql: "SELECT id AS book_id, sku FROM books",
                    fetch: "path: /v1/score\nmethod: POST\nbody: { sku: \"{sku}\" }\nretries: 1\nbackoff: 0.01s"
                ).utf8), to: plan)
        let ran = try await fixture.run(plan.path, ["--log-level", "debug"])
        #expect(ran.status != 0, "\(ran.stderr)")
        #expect((ran.stdout + ran.stderr).contains("backend \(Self.shown) down"), "\(ran.stdout)\(ran.stderr)")
        #expect(!Self.acts(ran.stderr) && !Self.acts(ran.stdout), "\(ran.stderr)\(ran.stdout)")
    }

    /// `text` inside a PostgreSQL `E'...'` literal.
    static func sqlEscaped(_ text: String) -> String {
        text.unicodeScalars.map { scalar in
            scalar.value < 0x20 ? String(format: "\\x%02X", scalar.value) : String(scalar)
        }.joined()
    }
}
