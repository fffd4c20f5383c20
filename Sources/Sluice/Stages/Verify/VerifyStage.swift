import Foundation
import Logging
import SluiceCore
import SluicePipeline
import SluicePlan
import SluicePostgres

/// Runs SQL assertions after apply: each check's query returns one number, compared with a
/// constant or another stage's counter (`>= {{ stages.apply.filled_isrc }}`); or one row of
/// named numbers, each compared with its own (one scan of a table for several checks).
///
/// Every check runs, then the stage fails listing each unmet one with both numbers
/// ("check 'X': got 3050, expected >= 3159"). In a dry run the table was not changed, so
/// unmet checks are reported as notices instead of failing the run.
public struct VerifyStage: Stage {
    public let name: String
    public var kind: String { "verify" }
    public let parameters: Value
    public let settings: VerifySettings
    let database: PostgresSettings
    let dryRun: Bool
    /// The stage this one reads (and so runs after), from the plan.
    let upstream: String?
    /// Where the plan writes each parameter (`checks[0].sql`, `checks[0].expect.isrc`): a query
    /// the server refuses is reported at the character it names, an answer of the wrong shape at
    /// the expectation that wants another.
    public var locations: [String: SourceLocation] = [:]

    public init(
        name: String, settings: VerifySettings, database: PostgresSettings, upstream: String? = nil,
        dryRun: Bool = false, parameters: Value
    ) {
        self.name = name
        self.upstream = upstream
        self.settings = settings
        self.database = database
        self.dryRun = dryRun
        self.parameters = parameters
    }

    public func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        // Checks describe the table after the upstream stage: wait for it to end.
        if let input { for try await _ in input {} }
        var failures: [String] = []
        // Checks whose SQL the server refused: broken whatever the table holds, so a dry run
        // (which does not enforce what the checks find) fails on them too.
        var broken = 0
        var passed = 0
        // The server's timeouts that cancelled a check's query, by setting: which, where it was
        // set, who holds a table the query reads (found once, on the first connection).
        let (results, timeouts) = try await DatabaseConnector.with(database, for: context) { connection in
            let results = try await Self.answers(
                to: settings.checks.map(\.sql), on: connection, connections: Self.connections)
            var timeouts: [ServerTimeout.Setting: ServerTimeout] = [:]
            for case .failure(let error) in results {
                guard let setting = ServerTimeout.setting(of: error), timeouts[setting] == nil else { continue }
                timeouts[setting] = await ServerTimeout.find(
                    error, on: connection, table: nil, waiting: .read, database: database,
                    named: settings.connection)
            }
            return (results, timeouts)
        }
        var timedOut: [ServerTimeout] = []
        for (check, outcome) in zip(settings.checks, results) {
            let numbers: [(ColumnExpectation, Value)]
            do {
                numbers = try Self.numbers(in: try outcome.get(), for: check)
            } catch let error as AnswerShape {
                failures.append("check '\(check.name)': \(error.problem)")
                continue
            } catch {
                if let error = error as? PostgresError, let setting = ServerTimeout.setting(of: error),
                    let timeout = timeouts[setting]
                {
                    failures.append(
                        "check '\(check.name)': its query was cancelled (ERROR \(error.sqlState ?? ""): \(error.message)), "
                            + "not answered: \(timeout.explanation)")
                    timedOut.append(timeout)
                } else {
                    failures.append("check '\(check.name)': its query failed: \(error)")
                }
                broken += 1
                continue
            }
            for (expectation, result) in numbers {
                let which = "check '\(check.name)'" + (expectation.column.map { ", column '\($0)'" } ?? "")
                guard let actual = result.doubleValue ?? result.text.flatMap(Double.init) else {
                    failures.append("\(which): the query returned \(result.text ?? "NULL"), not a number")
                    continue
                }
                let expect = expectation.expect
                let expected: Double
                do {
                    expected = try await resolve(expect, context: context, upstream: upstream ?? input?.upstream)
                } catch let error as StageError {
                    failures.append("\(which): \(error.message)")
                    continue
                }
                // Exactly, when both sides are decimals a double would round (a numeric's 18
                // digits, a bigint past 2^53): the answer as the server printed it, the number as
                // the plan wrote it (or a counter, an integer).
                var got = Expectation.format(actual)
                var wanted = "\(expect.comparison.rawValue) \(Expectation.format(expected))"
                var holds = expect.comparison.holds(actual, expected)
                let exactExpected =
                    expect.factor != 1
                    ? nil
                    : expect.literal.flatMap(Expectation.exact)
                        ?? (expected.magnitude < 0x1p53 && expected.rounded() == expected
                            ? Decimal(Int64(expected)) : nil)
                if let text = result.text, let exactActual = Expectation.exact(text), let exactExpected {
                    got = text
                    wanted = "\(expect.comparison.rawValue) \(expect.literal ?? Expectation.format(expected))"
                    holds = expect.comparison.holds(exactActual, exactExpected)
                }
                if holds {
                    passed += 1
                    var metadata: Logger.Metadata = ["check.name": "\(check.name)", "check.value": "\(got)"]
                    if let column = expectation.column { metadata["check.column"] = "\(column)" }
                    context.logger.info("check passed", metadata: metadata)
                } else {
                    failures.append("\(which): got \(got), expected \(wanted)")
                }
            }
        }
        let checked = settings.checks.reduce(0) { $0 + $1.expectations.count }
        context.counters.set("checks", checked)
        context.counters.set("passed", passed)
        guard !failures.isEmpty else { return }
        if dryRun, broken == 0 {
            for failure in failures { context.notice("dry run, not enforced: \(failure)") }
            return
        }
        var error = VerifyError(stage: name, failures: failures, failed: checked - passed)
        // Only timeouts that may pass later: the checks can run again as they are.
        if timedOut.count == failures.count, timedOut.allSatisfy(\.isResumable) {
            error.resumable = true
            // What they check is in the table: an apply before them committed it.
            if let upstream, context.finishedStage(upstream)?.committedAt != nil {
                error.committed = upstream
            }
        }
        throw error
    }

    /// The numbers `answer` gives `check`'s expectations, each with its own; else what is wrong
    /// with its shape. One row either way: one column for a single expectation; for columns, each
    /// one the plan names and none it does not (``columnIndices(_:for:)``).
    static func numbers(
        in answer: PostgresResult, for check: VerifyCheck
    ) throws(AnswerShape) -> [(ColumnExpectation, Value)] {
        guard check.hasColumns else {
            guard answer.rows.count == 1, answer.columns.count == 1, let expectation = check.expectations.first else {
                throw AnswerShape(
                    problem:
                        "the query returned \(answer.rows.count.counted("row")) of "
                        + "\(answer.columns.count.counted("column")); a check returns one row with one number")
            }
            return [(expectation, answer.rows[0][0])]
        }
        guard answer.rows.count == 1 else {
            throw AnswerShape(
                problem: "the query returned \(answer.rows.count.counted("row")); a check returns one row")
        }
        let indices = try columnIndices(answer.columns, for: check)
        return zip(check.expectations, indices).map { ($0, answer.rows[0][$1]) }
    }

    /// Where among `columns` (an answer's, or those the server says a query returns) each of a
    /// check's expectations finds its number, in the check's order. A one-number check's is the
    /// only column. A column check's is its exact name, else the only one spelled the same in any
    /// case (the server folds an unquoted `AS Filled` to `filled`); each named column must be
    /// there once, and every column named.
    static func columnIndices(_ columns: [String], for check: VerifyCheck) throws(AnswerShape) -> [Int] {
        guard !columns.isEmpty else {
            throw AnswerShape(problem: "the statement returns no columns; a check is a query that returns one row")
        }
        guard check.hasColumns else {
            guard columns.count == 1 else {
                throw AnswerShape(
                    problem:
                        "the query returns \(columns.count.counted("column")) (\(columns.joined(separator: ", "))); "
                        + "a check returns one number, or names each column in 'expect'")
            }
            return [0]
        }
        var problems: [String] = []
        var firstNamed: String?
        var found: [Int] = []
        var used = Set<Int>()
        let listed = columns.joined(separator: ", ")
        let unnamed = columns.filter { column in
            !check.expectations.contains { $0.column?.lowercased() == column.lowercased() }
        }
        for expectation in check.expectations {
            let column = expectation.column ?? ""
            var at = columns.indices.filter { columns[$0] == column }
            if at.isEmpty { at = columns.indices.filter { columns[$0].lowercased() == column.lowercased() } }
            used.formUnion(at)
            switch at.count {
            case 1: found.append(at[0])
            case 0:
                // A likely typo: the column it meant is explained, not reported again as unnamed.
                let guess = Suggestion.nearest(to: column, in: unnamed)
                if let guess, let index = columns.firstIndex(of: guess) { used.insert(index) }
                problems.append(
                    "the query returns no column '\(column)' (its columns: \(listed))"
                        + (guess.map { ": did you mean '\($0)'?" } ?? ""))
            default:
                problems.append("the query returns \(at.count) columns named '\(columns[at[0]])'; name each with AS")
            }
            if at.count != 1, firstNamed == nil { firstNamed = column }
        }
        for index in columns.indices where !used.contains(index) {
            problems.append(
                "the query's column '\(columns[index])' has no expectation: name it in 'expect', or leave it out of "
                    + "the query")
        }
        guard problems.isEmpty else { throw AnswerShape(problem: problems.joined(separator: "; "), column: firstNamed) }
        return found
    }

    /// What is wrong with the shape of a check's answer, and the first column `expect` names
    /// that the answer does not give once (where the plan is at fault).
    struct AnswerShape: Error {
        var problem: String
        var column: String? = nil
    }

    /// At most this many checks run at once, each connection reading in its own `READ ONLY`
    /// transaction: a check right after a large apply scans the table, and the server has cores
    /// to scan it on. Each check is one statement, so it sees one snapshot, as it would one after
    /// another.
    static let connections = 4

    /// What each query returns, in order: the queries run `connections` at a time, on
    /// `connection` and on more connections like it, closed before returning (when one cannot be
    /// opened, the others answer its share). A query the server refuses (an error in its SQL,
    /// one that would write) is that check's failure, the others still run; anything else (the
    /// connection lost) fails the whole.
    static func answers(
        to queries: [String], on connection: PostgresConnection, connections: Int
    ) async throws -> [Result<PostgresResult, PostgresError>] {
        let next = TakeANumber()
        let workers = max(1, min(connections, queries.count))
        return try await withThrowingTaskGroup(of: [(Int, Result<PostgresResult, PostgresError>)].self) { group in
            for worker in 0..<workers {
                group.addTask {
                    let own: PostgresConnection
                    if worker == 0 {
                        own = connection
                    } else {
                        // One connection is enough to answer them all: a server with no slot to
                        // spare leaves the checks to the others.
                        do {
                            own = try await connection.openAnother()
                        } catch {
                            connection.logger.debug(
                                "no extra connection for verify checks", metadata: ["error": "\(error)"])
                            return []
                        }
                    }
                    do {
                        // Verify only reads production: a check that would write fails instead.
                        _ = try await own.execute("BEGIN TRANSACTION READ ONLY")
                        var answers: [(Int, Result<PostgresResult, PostgresError>)] = []
                        while true {
                            let index = next.take()
                            guard index < queries.count else { break }
                            do {
                                answers.append((index, .success(try await own.execute(queries[index]))))
                            } catch let error as PostgresError where error.kind == .server {
                                answers.append((index, .failure(error)))
                                // The refusal ended the transaction: a new one for the next check.
                                await own.rollbackQuietly()
                                _ = try await own.execute("BEGIN TRANSACTION READ ONLY")
                            }
                        }
                        await own.rollbackQuietly()
                        if worker != 0 { await own.close() }
                        return answers
                    } catch {
                        // An error closes the connection, and the transaction with it.
                        if worker != 0 { await own.close() }
                        throw error
                    }
                }
            }
            var values = [Result<PostgresResult, PostgresError>?](repeating: nil, count: queries.count)
            for try await answers in group {
                for (index, value) in answers { values[index] = value }
            }
            return values.map { $0 ?? .success(PostgresResult(columns: [], rows: [], affectedRows: 0)) }
        }
    }

    /// The number an expectation compares with: a constant, or a finished stage's figure
    /// (`rows_in`, `rows_out`, `rows_rejected` or one of its counters) times the factor.
    func resolve(_ expectation: Expectation, context: StageContext, upstream: String?) async throws -> Double {
        switch expectation.operand {
        case .number(let n):
            return n * expectation.factor
        case .stageCounter(let stage, let counter):
            var record = context.finishedStage(stage)
            // Our input ends just before the runner records its stage as finished: give it a moment.
            var attempts = 0
            while record == nil && stage == upstream && attempts < 200 {
                try await Task.sleep(for: .milliseconds(10))
                record = context.finishedStage(stage)
                attempts += 1
            }
            guard let record else {
                throw StageError(
                    stage: name,
                    "stage '\(stage)' has not finished in this run, so {{ stages.\(stage).\(counter) }} is unknown")
            }
            let value: Int?
            switch counter {
            case "rows_in": value = record.rowsIn
            case "rows_out": value = record.rowsOut
            case "rows_rejected": value = record.rowsRejected
            default:
                // A counter recorded only when it applies (`inserted`, `drifted`, `rejected_pattern`...)
                // is 0 when it did not; `sluice check` refused any other name.
                let spec = StageKind(rawValue: record.kind).flatMap { Schema.counter(counter, of: $0) }
                value = record.counters[counter] ?? (spec?.sometimes == true ? 0 : nil)
            }
            guard let value else {
                let known = (["rows_in", "rows_out", "rows_rejected"] + record.counters.keys.sorted()).joined(
                    separator: ", ")
                throw StageError(stage: name, "stage '\(stage)' has no counter '\(counter)' (it has: \(known))")
            }
            return Double(value) * expectation.factor
        }
    }
}

/// Verify checks that were not met, each with the value found and the one expected.
public struct VerifyError: Error, CustomStringConvertible, Sendable {
    public var stage: String
    public var failures: [String]
    /// The expectations not met: a check whose query failed fails each of its columns'.
    public var failed: Int

    /// Every check that failed was cancelled by one of the server's timeouts, which may not
    /// fire again: running the checks again as they are may pass (`sluice resume`).
    public var resumable = false
    /// The apply before the checks, which committed (with ``resumable``): the table holds its
    /// change, and only the checks could not run.
    public var committed: String?

    public init(stage: String, failures: [String], failed: Int? = nil) {
        self.stage = stage
        self.failures = failures
        self.failed = failed ?? failures.count
    }

    public var description: String {
        var out = "stage '\(stage)': \(failed.counted("check")) failed:\n  " + failures.joined(separator: "\n  ")
        if let committed {
            out +=
                "\n  stage '\(committed)' committed before the checks: its change is in the table, and only the "
                + "checks' queries were cancelled, which says nothing of what they check: the command below runs the "
                + "checks again (not the apply) once the lock is gone, or the undo below puts the change back"
        }
        return out
    }
}

extension VerifyStage: PreflightingStage {
    /// Its checks run only after the apply ahead of it committed: a query the server refuses
    /// must be found before anything runs, even when both start together (`--yes`).
    public var preflightsInFirstSegment: Bool { true }

    /// Whether the server's refusal to describe a check only says it holds several statements
    /// (`SET LOCAL ...; SELECT ...`), which one description cannot cover: such a check is left to
    /// the run, which runs them in order.
    static func holdsSeveralStatements(_ error: PostgresError) -> Bool {
        error.sqlState == "42601" && error.message.contains("multiple commands")
    }

    /// Has the server parse and analyse each check's query and say what columns it returns
    /// (prepared and described: nothing runs, no row is read), so a check it would refuse — a
    /// typo, a table or column it does not have, a function it does not know — or whose answer
    /// could not meet its expectations — two columns for one number, a column `expect` names that
    /// the query lacks — fails the run before the apply changes anything, each located in the
    /// plan. A check of several statements (which one description cannot cover) is left to the
    /// run; so is a server that cannot be reached now (the stages ahead say so).
    public func preflight(_ context: StageContext) async throws {
        var database = database
        database.connectTimeout = min(database.connectTimeout, 2)
        let checks = settings.checks
        let found: [(index: Int, problem: Problem)]
        do {
            found = try await DatabaseConnector.with(database, for: context) { connection in
                var found: [(index: Int, problem: Problem)] = []
                for (index, check) in checks.enumerated() {
                    // Every check, whatever its first word (a comment, SHOW, EXPLAIN, a typo):
                    // parsed and described, nothing runs.
                    let columns: [PostgresConnection.DescribedColumn]
                    do {
                        // A lock the server's lock_timeout gave up on is no error in the check.
                        columns = try await ServerTimeout.naming(
                            "sluice's description of the query of check '\(check.name)' (parsed, not run)",
                            showingSQL: false, on: connection, table: nil, database: database, stage: name,
                            connection: settings.connection
                        ) { try await connection.describeColumns(QueryStage.trimmed(check.sql)) }
                    } catch let error as PostgresError where error.kind == .server && !error.isTransient {
                        if !Self.holdsSeveralStatements(error) { found.append((index, .refused(error))) }
                        continue
                    }
                    let indices: [Int]
                    do throws(AnswerShape) {
                        indices = try Self.columnIndices(columns.map(\.name), for: check)
                    } catch {
                        found.append((index, .shape(error.problem, column: error.column)))
                        continue
                    }
                    for (expectation, column) in zip(check.expectations, indices.map { columns[$0] }) {
                        guard let problem = try await Self.notANumber(column, on: connection) else { continue }
                        found.append((index, .shape(problem, column: expectation.column)))
                    }
                }
                return found
            }
        } catch let error as StageError {
            throw error
        } catch {
            context.logger.debug("verify preflight skipped", metadata: ["error": "\(error)"])
            return
        }
        guard !found.isEmpty else { return }
        let lines = found.map { index, problem in
            let check = "check '\(checks[index].name)'"
            switch problem {
            case .refused(let error):
                let key = "stages.\(name).checks[\(index)].sql"
                // The server counts characters from 1 into the statement: shown, and located, in
                // the plan's SQL.
                var shown = error
                shown.statement = QueryStage.trimmed(checks[index].sql)
                var place = ""
                if let start = locations["checks[\(index)].sql"] {
                    place = "\(error.position.map { start.advanced(intoValueBy: max(1, $0) - 1) } ?? start): error: "
                    shown = QueryStage.asWritten(shown, at: start)
                }
                var text = shown.description.split(separator: "\n", omittingEmptySubsequences: false)
                text[0] += " (checked before the run started: nothing ran)"
                return "\(place)\(key) (\(check)): " + text.joined(separator: "\n")
            case .shape(let problem, let column):
                // At the column expected and not found, else at the whole expectation.
                let expect = "checks[\(index)].expect"
                let at = column.map { "\(expect).\($0)" } ?? expect
                let key = "stages.\(name).\(at)"
                let place = (locations[at] ?? locations[expect]).map { "\($0): error: " } ?? ""
                return "\(place)\(key) (\(check)): \(problem) (checked before the run started: nothing ran)"
            }
        }
        throw StageError(stage: name, lines.joined(separator: "\n"))
    }

    /// Why a column of `column`'s type can never be read as the number a check compares, or `nil`
    /// when it may be (a number; text, which may hold digits; a type of an extension). The run
    /// found out only after the apply before it had committed: `the query returned true, not a
    /// number`.
    static func notANumber(
        _ column: PostgresConnection.DescribedColumn, on connection: PostgresConnection
    ) async throws -> String? {
        let row = try await connection.execute(
            "SELECT typcategory::text, format_type(oid, NULL) FROM pg_type WHERE oid = \(column.typeOID)"
        ).rows.first
        guard let category = row?[0].stringValue, let type = row?[1].stringValue,
            ["B", "D", "T", "A", "G", "I", "R", "C", "E", "V"].contains(category)
        else { return nil }
        let fix =
            category == "B"
            ? "count the rows that break it (count(*) FILTER (WHERE NOT ...), expect: \"== 0\") or cast it (::int)"
            : "return a count or a number"
        return "the query's column '\(column.name)' is \(type), which is never a number: a check's answer is "
            + "compared as one; \(fix)"
    }

    /// What the preflight found wrong with one check.
    enum Problem {
        /// The server would not run its query.
        case refused(PostgresError)
        /// Its query's columns cannot meet its expectations; the column `expect` names and the
        /// answer lacks, if that is what is wrong.
        case shape(String, column: String?)
    }
}
