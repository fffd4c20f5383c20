import Foundation
import SluiceTestSupport
import Testing

/// `sluice check --connect`: a plan checked at its databases before anything runs — every
/// connection opened, every query planned, every apply's table and every verify's SQL checked —
/// changing nothing and asking no API anything.
@Suite struct CheckConnectTests {
    @Test func theSpotifyPlanChecksOutAtItsDatabaseAndNothingRuns() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 5)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let outcome = try await fixture.sluice.run(["check", "--connect", "plans/spotify-enrichment.yaml"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("connection 'db': connected (PostgreSQL "), "\(outcome.stdout)")
        #expect(outcome.stdout.contains("plans/spotify-enrichment.yaml: ok"), "\(outcome.stdout)")
        #expect(!outcome.stdout.contains("spotify':"), "an http connection is not contacted: \(outcome.stdout)")
        let stats = fixture.simulator.stats()
        #expect(stats.apiRequests == 0 && stats.tokenRequests == 0)
        #expect(try await fixture.table() == before)
    }

    /// Without the API's credentials (a CI, a first look): the database's are what connecting
    /// needs, so the check goes on, the API's unset variables staying warnings; without the
    /// database's, that variable is the one error, located.
    @Test func onlyTheDatabasesVariablesAreNeededToConnect() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 5)
        defer { Task { await fixture.tearDown() } }
        var sluice = fixture.sluice
        sluice.environment["SPOTIFY_CLIENT_ID"] = nil
        sluice.environment["SPOTIFY_CLIENT_SECRET"] = nil
        let outcome = try await sluice.run(["check", "--connect", "plans/spotify-enrichment.yaml"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("connection 'db': connected (PostgreSQL "), "\(outcome.stdout)")
        #expect(
            outcome.stderr.contains("warning: environment variable 'SPOTIFY_CLIENT_SECRET' is not set"),
            "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("error:"), "\(outcome.stderr)")

        sluice.environment["DATABASE_URL"] = nil
        let without = try await sluice.run(["check", "--connect", "plans/spotify-enrichment.yaml"])
        #expect(without.status == 2, "\(without.stderr)")
        let errors = without.stderr.split(separator: "\n").filter { $0.contains(": error: ") }
        #expect(
            errors.count == 1
                && errors[0].hasPrefix("plans/spotify-enrichment.yaml:")
                && errors[0].hasSuffix(
                    "error: environment variable 'DATABASE_URL' is not set, and --connect connects with it"),
            "\(without.stderr)")
        #expect(!without.stdout.contains("connected"), "\(without.stdout)")

        // A database setting from an unset variable that cannot be stood in for (a duration):
        // which variables the databases need cannot be told, so every unset one is an error
        // and nothing connects.
        let text = try await Files.text(SluiceProcess.root.appendingPathComponent("plans/spotify-enrichment.yaml"))
        let plan = fixture.directory.appendingPathComponent("timeout.yaml")
        let url = #"url: "${DATABASE_URL}""#
        #expect(text.components(separatedBy: url).count == 2)
        try await Files.write(
            Array(text.replacingOccurrences(of: url, with: url + "\n    " + #"connect_timeout: "${DB_TIMEOUT}""#).utf8),
            to: plan
        )
        var timeout = fixture.sluice
        timeout.environment["SPOTIFY_CLIENT_SECRET"] = nil
        let untold = try await timeout.run(["check", "--connect", plan.path])
        #expect(untold.status == 2, "\(untold.stderr)")
        for name in ["DB_TIMEOUT", "SPOTIFY_CLIENT_SECRET"] {
            #expect(
                untold.stderr.contains(
                    "error: environment variable '\(name)' is not set, and --connect connects with it"),
                "\(untold.stderr)")
        }
        #expect(!untold.stdout.contains("connected"), "\(untold.stdout)")
    }

    /// The table the plan writes lacks a column: the apply and the verify check reading it are
    /// named where the plan names them, in one go, and nothing runs.
    @Test func whatTheTableLacksIsLocatedInThePlan() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 5)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            "ALTER TABLE tracks RENAME COLUMN isrc TO isrc_code", conninfo: fixture.conninfo)
        let outcome = try await fixture.sluice.run(["check", "--connect", "plans/spotify-enrichment.yaml"])
        #expect(outcome.status == 2, "\(outcome.stderr)")
        #expect(
            outcome.stderr.contains("error: stages.apply.columns.isrc: table tracks has no column 'isrc'"),
            "\(outcome.stderr)")
        #expect(outcome.stderr.contains("error: stages.verify.checks[0].sql"), "\(outcome.stderr)")
        // Located first, stage and key in the message; one error per check the server refuses.
        let lines = outcome.stderr.split(separator: "\n").filter { $0.contains(": error: ") }
        #expect(lines.count == 2 && lines.allSatisfy { $0.hasPrefix("plans/spotify-enrichment.yaml:") }, "\(lines)")
        #expect(outcome.stderr.hasSuffix("2 errors\n"), "\(outcome.stderr)")
        #expect(!outcome.stdout.contains(": ok"))
        #expect(fixture.simulator.stats().apiRequests == 0)
    }

    /// A column the plan misspells and a grant the role lacks are both said, the plan's problem
    /// first: only the grant was, and fixing it led to the next error.
    @Test func aMisspeltColumnAndAMissingGrantAreBothSaidThePlansFirst() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 5)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            ALTER TABLE tracks RENAME COLUMN isrc TO isrc_code;
            REVOKE UPDATE ON tracks FROM \(TestPostgres.passwordRole)
            """, conninfo: fixture.conninfo)
        let outcome = try await fixture.sluice.run(["check", "--connect", "plans/spotify-enrichment.yaml"])
        #expect(outcome.status == 2, "\(outcome.stderr)")
        let said = outcome.stderr
        let column = said.range(of: "error: stages.apply.columns.isrc: table tracks has no column 'isrc'")
        let grant = said.range(of: "error: stages.apply.table: role \(TestPostgres.passwordRole) lacks what an apply")
        #expect(
            column != nil && grant != nil && column?.lowerBound ?? said.endIndex < grant?.lowerBound ?? said.startIndex,
            "\(said)")
        #expect(said.hasSuffix("3 errors\n"), "\(said)")
    }

    /// A column the apply writes that the database computes (GENERATED ALWAYS AS) cannot be
    /// written: found before anything runs, located at that column.
    @Test func aGeneratedColumnTheApplyWritesIsLocatedInThePlan() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 5)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            """
            ALTER TABLE tracks DROP COLUMN isrc;
            ALTER TABLE tracks ADD COLUMN isrc text GENERATED ALWAYS AS (upper(title)) STORED
            """, conninfo: fixture.conninfo)
        let outcome = try await fixture.sluice.run(["check", "--connect", "plans/spotify-enrichment.yaml"])
        #expect(outcome.status == 2, "\(outcome.stderr)")
        #expect(
            outcome.stderr.contains(
                "error: stages.apply.columns.isrc: column 'isrc' of tracks is generated: the database computes it, "
                    + "and it cannot be written; remove it from the apply's columns"), "\(outcome.stderr)")
        #expect(fixture.simulator.stats().apiRequests == 0)
    }

    /// A column of a type without equality (`point`, `xml`, `json`) cannot be compared with the
    /// value written: found before anything runs, located at that column (the apply failed once
    /// the input was copied, with the server's `operator does not exist: point = point`).
    @Test(arguments: [
        ("point", "write it to a column of a type with one, or remove it from the apply's columns"),
        ("json", "make it jsonb (ALTER TABLE tracks ALTER COLUMN isrc TYPE jsonb)"),
    ])
    func aColumnWithoutEqualityIsLocatedInThePlan(type: String, fix: String) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 5)
        defer { Task { await fixture.tearDown() } }
        _ = try await fixture.server.execute(
            "ALTER TABLE tracks DROP COLUMN isrc; ALTER TABLE tracks ADD COLUMN isrc \(type)",
            conninfo: fixture.conninfo)
        let outcome = try await fixture.sluice.run(["check", "--connect", "plans/spotify-enrichment.yaml"])
        #expect(outcome.status == 2, "\(outcome.stderr)")
        #expect(
            outcome.stderr.contains(
                "error: stages.apply.columns.isrc: column 'isrc' of tracks is of type \(type), which has no equality "
                    + "operator (\(type) = \(type)): the apply could not tell a changed value from an unchanged one; "
                    + fix), "\(outcome.stderr)")
        #expect(fixture.simulator.stats().apiRequests == 0)
    }

    /// A column `expect` names that the verify query does not return is found by the server's
    /// description of the query, located at that expectation with the column it likely meant.
    @Test func aVerifyColumnTheQueryLacksIsLocatedAtItsExpectation() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 5)
        defer { Task { await fixture.tearDown() } }
        let text = try await Files.text(SluiceProcess.root.appendingPathComponent("plans/spotify-enrichment.yaml"))
        let good = "normalised_isrc: \">="
        #expect(text.components(separatedBy: good).count == 2)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let line = try #require(lines.firstIndex { $0.contains(good) }) + 1
        let column = try #require(lines[line - 1].firstIndex(of: "\"")).utf16Offset(in: lines[line - 1]) + 1
        let plan = fixture.directory.appendingPathComponent("typo.yaml")
        try await Files.write(
            Array(text.replacingOccurrences(of: good, with: "normalized_isrc: \">=").utf8), to: plan)
        let outcome = try await fixture.sluice.run(["check", "--connect", plan.path])
        #expect(outcome.status == 2, "\(outcome.stderr)")
        #expect(
            outcome.stderr.contains(
                "\(plan.path):\(line):\(column): error: stages.verify.checks[0].expect.normalized_isrc (check 'what "
                    + "the apply wrote is in the table'): the query returns no column 'normalized_isrc' (its columns: "
                    + "popularity, isrc, normalised_isrc): did you mean 'normalised_isrc'?"),
            "\(outcome.stderr)")
        #expect(outcome.stderr.hasSuffix("1 error\n"), "\(outcome.stderr)")
    }

    /// A query the server refuses is planned, not run, and located at the character it names,
    /// as a run would report it.
    @Test func aQueryTheServerRefusesIsLocated() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 5)
        defer { Task { await fixture.tearDown() } }
        let plan = try await fixture.queryPlan(named: "bad-table", sql: "sql: >\n  SELECT id\n  FROM trakcs")
        let outcome = try await fixture.sluice.run(["check", "--connect", plan.path])
        #expect(outcome.status == 2, "\(outcome.stderr)")
        // `trakcs`: line 11, column 12 of the plan.
        #expect(
            outcome.stderr.contains("\(plan.path):11:12: error: stages.query.sql: ERROR 42P01"), "\(outcome.stderr)")
    }

    /// A database that cannot be reached is named by its connection, located in the plan; its
    /// URL's password is never printed.
    @Test func aDatabaseThatCannotBeReachedIsNamed() async throws {
        var environment = CheckWithoutCredentialsTests.bareEnvironment
        environment["DATABASE_URL"] = "postgresql://app:hunter2secret@127.0.0.1:1/music?connect_timeout=2"
        environment["SPOTIFY_CLIENT_ID"] = "id"
        environment["SPOTIFY_CLIENT_SECRET"] = "secret"
        let sluice = SluiceProcess(environment: environment, directory: FileManager.default.temporaryDirectory)
        let outcome = try await sluice.run(["check", "--connect", "plans/spotify-enrichment.yaml"])
        #expect(outcome.status == 2, "\(outcome.stderr)")
        #expect(outcome.stderr.contains("error: connections.db: cannot connect:"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("plans/spotify-enrichment.yaml:"), "\(outcome.stderr)")
        #expect(!(outcome.stdout + outcome.stderr).contains("hunter2secret"))
    }
}
