import Foundation
import SluiceCore
import Testing

@testable import Sluice
@testable import SluicePipeline

@Suite struct VerifyStageTests {
    /// An apply record with the given counters, as `finishedStage("apply")` returns it.
    static func apply(_ counters: [String: Int]) -> @Sendable (String) -> Manifest.StageRecord? {
        { name in
            guard name == "apply" else { return nil }
            var record = Manifest.StageRecord(name: "apply", kind: "apply", parameters: .null, input: "write-csv")
            record.status = .succeeded
            record.counters = counters
            return record
        }
    }

    /// 5 tracks: popularity on 1, 3, 5; one ISRC, normalised.
    static func database() async throws -> TestDatabase {
        let db = try await TestDatabase.make(tracks: 5)
        _ = try await db.connection.execute("UPDATE tracks SET isrc = 'USUM71703861' WHERE isrc IS NOT NULL")
        return db
    }

    /// The Spotify plan's verify stage with these `checks` (YAML flow mappings) on `db`, in a
    /// harness whose apply counted `counters`.
    static func verify(
        _ db: TestDatabase, checks: [String], apply counters: [String: Int] = [:]
    ) async throws -> (stage: VerifyStage, harness: StageHarness) {
        let plan = try await TestPlans.spotify(
            database: db.conninfo, overrides: ["verify.checks=[\(checks.joined(separator: ", "))]"])
        let stage = try #require(try TestPlans.stage("verify", of: plan) as? VerifyStage)
        return (stage, try await StageHarness(stage: stage, finishedStage: Self.apply(counters)))
    }

    /// What running those checks fails with, expected to fail, and the harness (its counters).
    static func failures(
        _ db: TestDatabase, checks: [String], apply counters: [String: Int] = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> (error: VerifyError?, harness: StageHarness) {
        let (stage, harness) = try await verify(db, checks: checks, apply: counters)
        let error = await #expect(throws: VerifyError.self, sourceLocation: sourceLocation) {
            try await harness.run(stage, input: [])
        }
        return (error, harness)
    }

    /// What the preflight of those checks fails with.
    static func preflightErrors(_ db: TestDatabase, checks: [String]) async throws -> String {
        let (stage, harness) = try await verify(db, checks: checks)
        let error = await #expect(throws: StageError.self) { try await stage.preflight(harness.context) }
        return error?.message ?? ""
    }

    /// The preflight has the server describe every check, whatever it starts with: a comment
    /// before a query the server refuses, or a misspelt keyword, is found before the run as a
    /// plain query is; `SHOW` and `EXPLAIN` are described like a query; a statement that returns
    /// nothing is refused by its shape; a check of several statements is left to the run.
    @Test func thePreflightDescribesEveryCheckWhateverItStartsWith() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        let checks = [
            #"{name: commented, sql: "-- rows loaded\nSELECT count(*) FROM nosuchtable", expect: '>= 0'}"#,
            #"{name: misspelt, sql: 'SELEC count(*) FROM tracks', expect: '>= 0'}"#,
            #"{name: shown, sql: 'SHOW server_version_num', expect: '>= 0'}"#,
            #"{name: explained, sql: 'EXPLAIN SELECT 1', expect: '>= 0'}"#,
            #"{name: nothing, sql: 'DELETE FROM tracks WHERE false', expect: '>= 0'}"#,
            #"{name: several, sql: 'SET LOCAL work_mem = 65536; SELECT count(*) FROM tracks', expect: '>= 0'}"#,
        ]
        let message = try await Self.preflightErrors(db, checks: checks)
        let lines = message.split(separator: "\n").map(String.init).filter { $0.contains(": error: ") }
        #expect(lines.count == 3, "\(message)")
        #expect(message.contains("checks[0].sql (check 'commented'): ERROR 42P01"), "\(message)")
        #expect(message.contains("checks[1].sql (check 'misspelt'): ERROR 42601"), "\(message)")
        #expect(
            message.contains(
                "checks[4].expect (check 'nothing'): the statement returns no columns; a check is a query"),
            "\(message)")
        for fine in ["shown", "explained", "several"] { #expect(!message.contains("check '\(fine)'"), "\(message)") }
        #expect(try await db.connection.execute("SELECT count(*) FROM tracks").scalar == .int(5), "nothing ran")
    }

    /// Before anything runs, the server describes each check's query: an answer that could not
    /// meet its expectations (a column `expect` names that the query lacks, two columns for one
    /// number) fails the preflight located at the check's `expect`, as a query the server refuses
    /// is at its SQL; a check that fits says nothing.
    @Test func thePreflightFindsAnAnswerThatCouldNotMeetItsExpectations() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        let checks = [
            "{name: typo, sql: 'SELECT count(isrc) AS filled FROM tracks', expect: {filed: '>= 0'}}",
            "{name: two, sql: 'SELECT 1 AS a, 2 AS b', expect: '== 1'}",
            "{name: fine, sql: 'SELECT count(isrc) AS \"ISRC\" FROM tracks', expect: {isrc: '>= 0'}}",
            "{name: refused, sql: 'SELECT nosuch FROM tracks', expect: '>= 0'}",
        ]
        let message = try await Self.preflightErrors(db, checks: checks)
        // One error each, the refused query's followed by the server's LINE and caret.
        let lines = message.split(separator: "\n").map(String.init).filter { $0.contains(": error: ") }
        #expect(lines.count == 3, "\(message)")
        #expect(
            lines.first?.hasSuffix(
                "error: stages.verify.checks[0].expect.filed (check 'typo'): the query returns no column 'filed' "
                    + "(its columns: filled): did you mean 'filled'? (checked before the run started: nothing ran)")
                == true,
            "\(lines)")
        #expect(
            lines.dropFirst().first?.hasSuffix(
                "error: stages.verify.checks[1].expect (check 'two'): the query returns 2 columns (a, b); a check "
                    + "returns one number, or names each column in 'expect' (checked before the run started: "
                    + "nothing ran)") == true, "\(lines)")
        #expect(
            lines.dropFirst(2).first?.contains("stages.verify.checks[3].sql (check 'refused'): ERROR 42703") == true)
        #expect(!message.contains("check 'fine'"), "\(message)")
    }

    /// A column whose type is never a number (a boolean, a date, a list) cannot meet an `expect`:
    /// found before anything runs, located at the expectation (the run failed with "the query
    /// returned true, not a number" after the apply had committed). Text, which may hold digits,
    /// and numbers pass.
    @Test func thePreflightFindsAColumnThatIsNeverANumber() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        let checks = [
            "{name: all, sql: 'SELECT bool_and(isrc IS NOT NULL) FROM tracks', expect: '== 1'}",
            "{name: dated, sql: 'SELECT current_date AS day, count(*) AS n FROM tracks', expect: {day: '>= 0', n: '>= 0'}}",
            "{name: texts, sql: 'SELECT count(*)::text FROM tracks', expect: '>= 0'}",
            "{name: numbers, sql: 'SELECT avg(spotify_popularity) FROM tracks', expect: '>= 0'}",
        ]
        let message = try await Self.preflightErrors(db, checks: checks)
        let lines = message.split(separator: "\n").map(String.init).filter { $0.contains(": error: ") }
        #expect(lines.count == 2, "\(message)")
        #expect(
            lines.first?.hasSuffix(
                "error: stages.verify.checks[0].expect (check 'all'): the query's column 'bool_and' is boolean, which "
                    + "is never a number: a check's answer is compared as one; count the rows that break it "
                    + "(count(*) FILTER (WHERE NOT ...), expect: \"== 0\") or cast it (::int) (checked before the run "
                    + "started: nothing ran)") == true, "\(lines)")
        #expect(
            lines.dropFirst().first?.contains(
                "stages.verify.checks[1].expect.day (check 'dated'): the query's column 'day' is date, which is never "
                    + "a number") == true, "\(lines)")
    }

    @Test func passesWhenEveryCheckHolds() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        let stage = try TestPlans.stage("verify", of: try await TestPlans.spotify(database: db.conninfo))
        let harness = try await StageHarness(
            stage: stage, finishedStage: Self.apply(["filled_spotify_popularity": 3, "filled_isrc": 1]))
        _ = try await harness.run(stage, input: [])
        #expect(harness.counters["checks"] == 3)
        #expect(harness.counters["passed"] == 3)
    }

    /// An ISRC written another way on a row the apply never touched (no Spotify id) does not fail
    /// the plan's verify: its checks count what the apply wrote.
    @Test func aLegacyValueTheApplyDidNotWriteDoesNotFailTheChecks() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        _ = try await db.connection.execute(
            "UPDATE tracks SET isrc = 'us-um7-legacy' WHERE id = '\(TestDatabase.track(1))'")
        let stage = try TestPlans.stage("verify", of: try await TestPlans.spotify(database: db.conninfo))
        let harness = try await StageHarness(
            stage: stage, finishedStage: Self.apply(["filled_spotify_popularity": 3, "filled_isrc": 1]))
        _ = try await harness.run(stage, input: [])
        #expect(harness.counters["passed"] == 3)
    }

    /// Numbers a double would round (money to the cent past 15 digits, a bigint past 2^53) are
    /// compared exactly, and shown as the server printed them: a false check fails.
    @Test func numbersPastADoublesDigitsAreComparedExactly() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        let checks = [
            ("SELECT 1234567890123456.78::numeric", "== 1234567890123456.79"),
            ("SELECT 12345678901234567890123::numeric", "== 12345678901234567890000"),
            ("SELECT 9007199254740993::bigint", "== 9007199254740992"),
            ("SELECT 9007199254740993::bigint", "== 9007199254740993"),
            ("SELECT 1234567890123456.78::numeric", "< 1234567890123456.79"),
        ]
        let (stage, harness) = try await Self.verify(db, checks: checks.map { "{sql: \"\($0.0)\", expect: '\($0.1)'}" })
        let error = await #expect(throws: (any Error).self) { try await harness.run(stage, input: []) }
        let message = "\(error.map { "\($0)" } ?? "")"
        #expect(harness.counters["passed"] == 2, "\(message)")
        #expect(message.contains("got 1234567890123456.78, expected == 1234567890123456.79"), "\(message)")
        #expect(message.contains("got 12345678901234567890123, expected == 12345678901234567890000"), "\(message)")
        #expect(message.contains("got 9007199254740993, expected == 9007199254740992"), "\(message)")
    }

    /// Verify only reads production: a check that would write fails, and the table stays as it was.
    @Test func aCheckThatWouldWriteFailsInItsReadOnlyTransaction() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        let before = try await db.snapshot()
        let plan = try await TestPlans.spotify(
            database: db.conninfo,
            overrides: [
                "verify.checks=[{sql: 'WITH d AS (DELETE FROM tracks RETURNING 1) SELECT count(*) FROM d', expect: '>= 0'}]"
            ])
        let stage = try TestPlans.stage("verify", of: plan)
        let harness = try await StageHarness(stage: stage, finishedStage: Self.apply([:]))
        await #expect { try await harness.run(stage, input: []) } throws: { error in
            "\(error)".contains("read-only transaction")
        }
        #expect(try await db.snapshot() == before)
    }

    @Test func failsAfterRunningEveryCheckShowingBothValues() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        _ = try await db.connection.execute("UPDATE tracks SET isrc = 'bad-isrc' WHERE id = '\(TestDatabase.track(1))'")
        let stage = try TestPlans.stage("verify", of: try await TestPlans.spotify(database: db.conninfo))
        let harness = try await StageHarness(
            stage: stage, finishedStage: Self.apply(["filled_spotify_popularity": 4, "filled_isrc": 2]))
        let error = await #expect(throws: VerifyError.self) { try await harness.run(stage, input: []) }
        #expect(
            error?.failures == [
                "check 'what the apply wrote is in the table', column 'popularity': got 3, expected >= 4",
                "check 'what the apply wrote is in the table', column 'normalised_isrc': got 1, expected >= 2",
            ])
        #expect(harness.counters["passed"] == 1)
    }

    /// A check whose SQL the server refuses, or that returns more than one number, fails by
    /// name; the other checks still run and count.
    @Test func aBrokenCheckFailsByNameAndTheOthersStillRun() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        let checks = [
            "{name: first, sql: 'SELECT 1', expect: '== 1'}",
            "{name: typo, sql: 'SELECT count(nosuchcol) FROM tracks', expect: '>= 0'}",
            "{name: two, sql: 'SELECT 1, 2', expect: '== 1'}",
            "{name: rows, sql: 'SELECT 1 FROM tracks', expect: '== 1'}",
            "{name: last, sql: 'SELECT 2', expect: '== 2'}",
        ]
        let (error, harness) = try await Self.failures(db, checks: checks)
        let failures = error?.failures ?? []
        #expect(failures.count == 3, "\(failures)")
        #expect(failures.first?.hasPrefix("check 'typo': its query failed: ") == true, "\(failures)")
        #expect(failures.first?.contains("nosuchcol") == true, "\(failures)")
        #expect(
            failures.dropFirst().first
                == "check 'two': the query returned 1 row of 2 columns; a check returns one row with one number")
        #expect(
            failures.last
                == "check 'rows': the query returned 5 rows of 1 column; a check returns one row with one number")
        #expect(harness.counters["passed"] == 2)
    }

    /// One query, one scan, several numbers: each column meets or fails its own expectation, and
    /// each counts as a check. The server keeps a quoted alias's case (`"ISRC"`): the plan's
    /// `isrc` finds it, the only column spelled so.
    @Test func aCheckOfSeveralColumnsMeetsOrFailsEachOnItsOwn() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        let check =
            "{name: c, sql: 'SELECT count(spotify_popularity) AS popularity, count(isrc) AS \"ISRC\", 7 AS seven "
            + "FROM tracks', expect: {popularity: '== 3', isrc: '>= {{ stages.apply.filled_isrc }}', seven: '== 7'}}"
        let (error, harness) = try await Self.failures(db, checks: [check], apply: ["filled_isrc": 2])
        #expect(error?.failures == ["check 'c', column 'isrc': got 1, expected >= 2"])
        #expect(error?.failed == 1)
        #expect(harness.counters["checks"] == 3)
        #expect(harness.counters["passed"] == 2)
    }

    /// A column the plan names and the answer lacks, one the answer has and the plan does not
    /// name, more than one row: each fails its check by name, counting all its columns; the
    /// others still run.
    @Test func aColumnCheckOfTheWrongShapeFailsByName() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        let checks = [
            "{name: missing, sql: 'SELECT 1 AS a, 2 AS extra', expect: {a: '== 1', c: '== 3'}}",
            "{name: rows, sql: 'SELECT 1 AS a FROM tracks', expect: {a: '== 1'}}",
            "{name: twice, sql: 'SELECT 1 AS a, 1 AS a', expect: {a: '== 1'}}",
            "{name: fine, sql: 'SELECT 1 AS a, 2 AS b', expect: {b: '== 2', a: '== 1'}}",
        ]
        let (error, harness) = try await Self.failures(db, checks: checks)
        #expect(
            error?.failures == [
                "check 'missing': the query returns no column 'c' (its columns: a, extra); the query's column 'extra' "
                    + "has no expectation: name it in 'expect', or leave it out of the query",
                "check 'rows': the query returned 5 rows; a check returns one row",
                "check 'twice': the query returns 2 columns named 'a'; name each with AS",
            ])
        #expect(error?.failed == 4)
        #expect("\(error.map { "\($0)" } ?? "")".hasPrefix("stage 'verify': 4 checks failed:"))
        #expect(harness.counters["checks"] == 6)
        #expect(harness.counters["passed"] == 2)
    }

    @Test func anUnknownCounterIsAFailureNamingIt() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        let stage = try TestPlans.stage("verify", of: try await TestPlans.spotify(database: db.conninfo))
        let harness = try await StageHarness(stage: stage, finishedStage: Self.apply(["filled_isrc": 1]))
        let error = await #expect(throws: VerifyError.self) { try await harness.run(stage, input: []) }
        #expect(error?.failures.first?.contains("stage 'apply' has no counter 'filled_spotify_popularity'") == true)
    }

    /// `inserted` is recorded by an upsert or insert only: an update's apply has none, and a check
    /// comparing with it compares with 0 rather than failing after the apply committed.
    @Test func aCounterRecordedOnlyWhenItAppliesReadsAsZero() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        let plan = try await TestPlans.spotify(
            database: db.conninfo,
            overrides: [
                "verify.checks=[{sql: 'SELECT count(*) FROM tracks WHERE false', expect: '== {{ stages.apply.inserted }}'}]"
            ])
        let stage = try TestPlans.stage("verify", of: plan)
        let harness = try await StageHarness(stage: stage, finishedStage: Self.apply(["changed": 4]))
        _ = try await harness.run(stage, input: [])
        #expect(harness.counters["passed"] == 1)
    }

    @Test func dryRunReportsInsteadOfFailing() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        let stage = try TestPlans.stage("verify", of: try await TestPlans.spotify(database: db.conninfo), dryRun: true)
        let harness = try await StageHarness(
            stage: stage, finishedStage: Self.apply(["filled_spotify_popularity": 9, "filled_isrc": 1]))
        _ = try await harness.run(stage, input: [])
        let notice = "dry run, not enforced: check 'what the apply wrote is in the table', column 'popularity'"
        #expect(harness.notices.contains { $0.contains(notice) }, "\(harness.notices)")
    }

    /// A check whose SQL fails as it runs (division by zero) is broken whatever the table holds:
    /// a dry run fails on it rather than passing it off as a notice.
    @Test func aDryRunFailsOnACheckWhoseQueryFails() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        let plan = try await TestPlans.spotify(
            database: db.conninfo,
            overrides: [
                "verify.checks=[{name: divzero, sql: 'SELECT 1/(count(*) - count(*)) FROM tracks', expect: '>= 0'}]"
            ])
        let stage = try TestPlans.stage("verify", of: plan, dryRun: true)
        let harness = try await StageHarness(stage: stage, finishedStage: Self.apply(["changed": 1]))
        let error = await #expect(throws: VerifyError.self) { _ = try await harness.run(stage, input: []) }
        #expect(
            error?.description.contains("check 'divzero': its query failed: ERROR 22012: division by zero") == true,
            "\(String(describing: error))")
    }

    /// More checks than connections: each answer is matched with its own check, and failures
    /// are listed in the plan's order, whichever connection ran them.
    @Test func manyChecksRunOnSeveralConnectionsAndKeepTheirOrder() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        let count = VerifyStage.connections * 2 + 1
        let checks = (1...count).map { n in
            "{name: c\(n), sql: 'SELECT \(n) FROM pg_sleep(0.05)', expect: '\(n % 4 == 0 ? "<" : "==") \(n)'}"
        }
        let (error, harness) = try await Self.failures(db, checks: checks)
        #expect(error?.failures == ["check 'c4': got 4, expected < 4", "check 'c8': got 8, expected < 8"])
        #expect(harness.counters["passed"] == count - 2)
    }

    /// A writing check fails read-only on whichever connection runs it.
    @Test func aWritingCheckAmongManyFailsAndChangesNothing() async throws {
        let db = try await Self.database()
        defer { Task { await db.close() } }
        let before = try await db.snapshot()
        var checks = (1...6).map { n in "{sql: 'SELECT \(n) FROM pg_sleep(0.05)', expect: '>= 0'}" }
        checks.insert(
            "{sql: 'WITH d AS (DELETE FROM tracks RETURNING 1) SELECT count(*) FROM d', expect: '>= 0'}", at: 5)
        let (stage, harness) = try await Self.verify(db, checks: checks)
        await #expect { try await harness.run(stage, input: []) } throws: { error in
            "\(error)".contains("read-only transaction")
        }
        #expect(try await db.snapshot() == before)
    }
}
