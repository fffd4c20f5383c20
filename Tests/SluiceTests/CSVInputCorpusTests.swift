import Foundation
import Sluice
import SluiceCore
import SluicePlan
import Synchronization
import Testing

@testable import SluicePipeline

/// The malformed-CSV corpus for `sluice apply` (issue 7): every file in `Corpus-CSV/` goes
/// through the csv-input stage with the schema of `plans/spotify-enrichment.yaml`, and must give
/// exactly the located problems the table below lists — or, for a valid file, its rows. No
/// database is involved: these are the checks that run before a transaction may open.
@Suite struct CSVInputCorpusTests {
    /// One expected problem: where, and a fragment of its message.
    struct Problem: Sendable, CustomStringConvertible {
        var line: Int
        var column: Int
        var fragment: String
        var description: String { "\(line):\(column): …\(fragment)…" }
    }

    enum Expected: Sendable {
        /// A valid file and how many data rows it has.
        case rows(Int)
        /// Exactly these problems, in this order.
        case problems([Problem])
    }

    static func at(_ line: Int, _ column: Int, _ fragment: String) -> Problem {
        Problem(line: line, column: column, fragment: fragment)
    }

    /// Every file of the corpus and what it must give.
    static let expectations: [String: Expected] = [
        // Valid files, as a user may hand them over.
        "valid-crlf.csv": .rows(3),
        "valid-lf-no-final-newline.csv": .rows(2),
        "valid-mixed-line-ends.csv": .rows(2),
        "valid-bom.csv": .rows(1),
        "valid-all-fields-quoted.csv": .rows(2),
        "valid-columns-reordered-without-spotify-id.csv": .rows(1),
        "valid-trailing-blank-lines.csv": .rows(1),
        // A row repeated exactly is allowed; apply folds it (its duplicate_rows counter).
        "valid-identical-duplicate-rows.csv": .rows(3),

        // Nothing to apply.
        "empty.csv": .problems([at(1, 1, "the file is empty: expected a header row")]),
        "bom-only.csv": .problems([at(1, 1, "the file is empty")]),
        "header-only.csv": .problems([at(2, 1, "no rows after the header")]),
        "header-only-no-newline.csv": .problems([at(1, 44, "no rows after the header")]),

        // The header.
        "header-missing-column.csv": .problems([at(1, 1, "the header lacks column 'isrc'")]),
        "header-unknown-column.csv": .problems([at(1, 45, "unexpected column 'notes'")]),
        "header-misspelled-column.csv": .problems([
            at(1, 21, "unexpected column 'Spotify Popularity'"),
            at(1, 1, "the header lacks column 'spotify_popularity'"),
        ]),
        "header-duplicate-column.csv": .problems([at(1, 45, "column 'isrc' appears twice in the header")]),
        "header-semicolons.csv": .problems([at(1, 1, "separated by semicolons")]),
        // The escape is part of the name (a control character is data); the message shows it as its code.
        "header-terminal-escape.csv": .problems([at(1, 45, "unexpected column '\\u{1B}[2Jnotes'")]),
        "blank-line-before-header.csv": .problems([at(1, 1, "the first line is empty")]),

        // Bytes that are not UTF-8 text.
        "bad-utf8-latin1.csv": .problems([at(3, 75, "invalid UTF-8")]),
        "bad-utf8-cut-at-end.csv": .problems([at(2, 75, "invalid UTF-8: the file ends inside a character")]),
        "utf16le.csv": .problems([at(1, 1, "this file is UTF-16 text")]),
        "nul-byte.csv": .problems([at(2, 62, "a NUL byte")]),
        // A control character other than NUL is data, as write-csv writes it: here the ISRC's rule refuses it.
        "control-character.csv": .problems([at(2, 64, "'USRC1760\\u{B}7839' does not match the pattern")]),

        // Quoting and line ends.
        "quote-unbalanced.csv": .problems([at(3, 61, "unbalanced quote")]),
        "quote-inside-unquoted-field.csv": .problems([at(2, 68, "a quote inside an unquoted field")]),
        "quote-text-after-closing.csv": .problems([at(2, 65, "but 'x' follows it")]),
        // Valid CSV: the quoted ISRC holds a comma and a line end (so the next row starts on line 4);
        // the pattern refuses it, and the message shows the line end escaped, on one line.
        "quoted-field-with-newline-and-comma.csv": .problems([
            at(2, 63, "'US,RC\\r\\n17607839' does not match the pattern"),
            at(4, 61, "'abc' is not an integer"),
        ]),
        "line-ends-lone-cr.csv": .problems([at(1, 44, "a carriage return not followed by a line feed")]),
        "blank-line-between-rows.csv": .problems([at(3, 1, "an empty line between rows")]),

        // Row shapes.
        "row-short.csv": .problems([at(3, 63, "this row has 3 fields, the header has 4")]),
        "row-long.csv": .problems([at(3, 77, "this row has 5 fields, the header has 4")]),
        "row-unquoted-comma.csv": .problems([at(2, 67, "an unquoted comma?")]),

        // Keys.
        "key-empty.csv": .problems([at(3, 1, "column 'track_id' is empty")]),
        "key-not-uuid.csv": .problems([at(3, 1, "'1234' is not a UUID")]),
        "duplicate-keys-different-values.csv": .problems([
            at(4, 1, "is given different values here and on line 2")
        ]),
        // The database compares UUIDs regardless of case, and so does the check.
        "duplicate-keys-different-case.csv": .problems([at(4, 1, "is given different values here and on line 2")]),

        // Values against the plan's validate rules.
        "popularity-abc.csv": .problems([at(3, 61, "column 'spotify_popularity': 'abc' is not an integer")]),
        "popularity-140.csv": .problems([at(3, 61, "140 is above the maximum 100")]),
        "popularity-minus-1.csv": .problems([at(3, 61, "-1 is below the minimum 0")]),
        "popularity-decimal.csv": .problems([at(2, 61, "'42.0' is not an integer")]),
        "popularity-padded.csv": .problems([at(2, 61, "' 42' is not an integer")]),
        "isrc-lowercase.csv": .problems([at(2, 64, "'usrc17607839' does not match the pattern")]),
        "isrc-with-dashes.csv": .problems([at(2, 64, "'US-RC1-76-07839' does not match the pattern")]),
        "spotify-id-malformed.csv": .problems([at(2, 38, "does not match the pattern [0-9A-Za-z]{22}")]),
    ]

    static var corpus: URL {
        get throws { try #require(Bundle.module.url(forResource: "Corpus-CSV", withExtension: nil)) }
    }

    /// What the csv-input stage did with a file: the rows it sent, or the error it threw.
    struct Outcome {
        var rows: [[String: Value]] = []
        var error: CSVInputError?
        /// What the stage reported, line by line (what `sluice apply` prints).
        var reported: [String] = []
    }

    /// Runs the csv-input stage of `sluice apply plans/spotify-enrichment.yaml FILE` on `url`.
    static func read(
        _ url: URL, as name: String, maxRowBytes: Int = CSVReader.defaultMaxRowBytes
    ) async throws
        -> Outcome
    {
        let plan = try await TestPlans.spotify()
        let apply = try #require(plan.stage(named: "apply"))
        var stage = CSVInputStage(
            url: url, displayPath: name,
            schema: CSVInputSchema(plan: plan, apply: apply, settings: try #require(apply.apply)))
        stage.maxRowBytes = maxRowBytes
        let lines = Mutex<[String]>([])
        stage.report = { line in lines.withLock { $0.append(line) } }
        let harness = try await StageHarness(stage: stage)
        defer { try? FileManager.default.removeItem(at: harness.runDirectory) }
        var outcome = Outcome()
        do {
            outcome.rows = rows(try await harness.run(stage, input: nil))
        } catch let error as CSVInputError {
            outcome.error = error
        }
        outcome.reported = lines.withLock { $0 }
        return outcome
    }

    @Test func everyFileHasAnExpectationAndEveryExpectationAFile() async throws {
        let corpus = try Self.corpus.path
        let files = try await BlockingIO.runOnOwnThread { try FileManager.default.contentsOfDirectory(atPath: corpus) }
            .filter { $0.hasSuffix(".csv") }
        #expect(Set(files) == Set(Self.expectations.keys))
        #expect(files.count >= 15)
    }

    @Test(arguments: expectations.keys.sorted())
    func eachFileGivesItsLocatedOneLineErrorsOrItsRows(name: String) async throws {
        let expected = try #require(Self.expectations[name])
        let outcome = try await Self.read(try Self.corpus.appendingPathComponent(name), as: name)
        switch expected {
        case .rows(let count):
            #expect(outcome.error == nil, "\(outcome.error?.description ?? "")")
            #expect(outcome.rows.count == count)
            #expect(outcome.reported.isEmpty)
        case .problems(let problems):
            let error = try #require(outcome.error, "\(name) was accepted: \(outcome.rows)")
            let found = error.diagnostics
            #expect(
                found.count == problems.count,
                "expected \(problems), got:\n\(found.map(\.description).joined(separator: "\n"))")
            for (diagnostic, problem) in zip(found, problems) {
                #expect(diagnostic.line == problem.line && diagnostic.column == problem.column, "\(diagnostic)")
                #expect(diagnostic.message.contains(problem.fragment), "\(diagnostic)")
            }
            #expect(outcome.reported == found.map(\.description))
            #expect(error.description.contains("nothing was changed"))
        }
        for line in outcome.reported { Self.expectOneLocatedLine(line, file: name) }
    }

    /// `FILE:LINE:COL: error: message` on one line, with nothing a terminal would interpret.
    static func expectOneLocatedLine(
        _ line: String, file: String, sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        #expect(line.hasPrefix(file + ":"), "\(line)", sourceLocation: sourceLocation)
        let rest = line.dropFirst(file.count + 1).split(separator: ":", maxSplits: 3)
        #expect(
            rest.count == 4 && Int(rest[0]) != nil && Int(rest[1]) != nil, "\(line)", sourceLocation: sourceLocation)
        #expect(rest.count == 4 && rest[2] == " error", "\(line)", sourceLocation: sourceLocation)
        #expect(
            !line.unicodeScalars.contains { $0.properties.generalCategory == .control },
            "a control character in \(line.debugDescription)", sourceLocation: sourceLocation)
    }

    /// A cell goes on as written, once its column's rules (`type: int`) accept it: a rule
    /// checks, it does not rewrite; an empty cell is null.
    @Test func validFilesGiveTheirCellsAsWrittenAndEmptyCellsAsNull() async throws {
        let outcome = try await Self.read(
            try Self.corpus.appendingPathComponent("valid-crlf.csv"), as: "valid-crlf.csv")
        let rows = outcome.rows
        try #require(rows.count == 3)
        #expect(rows[0]["track_id"] == .string("6f1c2a52-8d3e-4b7a-9c1d-0a1b2c3d4e01"))
        #expect(rows[0]["spotify_popularity"] == .string("42"))
        #expect(rows[0]["isrc"] == .string("USRC17607839"))
        #expect(rows[1]["spotify_popularity"] == .null)
        #expect(rows[1]["isrc"] == .null)
        #expect(rows[2]["spotify_popularity"] == .string("0"))
        // The byte-order mark is not part of the first column's name.
        let bom = try await Self.read(try Self.corpus.appendingPathComponent("valid-bom.csv"), as: "valid-bom.csv")
        #expect(bom.rows.first?["track_id"] == .string("6f1c2a52-8d3e-4b7a-9c1d-0a1b2c3d4e01"))
    }

    @Test func aQuotedFieldKeepsItsCommaAndLineEndAndLinesAfterItStayRight() async throws {
        let name = "quoted-field-with-newline-and-comma.csv"
        let reader = try CSVReader(url: try Self.corpus.appendingPathComponent(name), path: name)
        _ = try await reader.next()
        let row = try #require(try await reader.next())
        #expect(row.fields.map(\.value).last == "US,RC\r\n17607839")
        #expect(row.line == 2 && row.endLine == 3)
        let next = try #require(try await reader.next())
        #expect(next.line == 4 && next.fields[2].column == 61)
        #expect(try await reader.next() == nil)
        #expect(reader.diagnostics.isEmpty)
    }

    // MARK: Generated cases

    /// A 10 MB line (generated here, not committed): one located error, and reading stops
    /// about a row limit into the file instead of buffering the line.
    @Test func aTenMegabyteLineIsRefusedWhereItStartsWithoutReadingItAll() async throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-10mb-\(UUID().uuidString).csv")
        defer { try? FileManager.default.removeItem(at: url) }
        let good = "6f1c2a52-8d3e-4b7a-9c1d-0a1b2c3d4e01,4uLU6hMCjMI75M1A2tKUQA,42,USRC17607839\r\n"
        var bytes = Array(("track_id,spotify_id,spotify_popularity,isrc\r\n" + good).utf8)
        bytes += Array("6f1c2a52-8d3e-4b7a-9c1d-0a1b2c3d4e02,".utf8)
        bytes += [UInt8](repeating: UInt8(ascii: "A"), count: 10 * 1024 * 1024)
        bytes += Array((",1,USRC17607839\r\n" + good).utf8)
        try await BlockingIO.runOnOwnThread { [bytes] in try Data(bytes).write(to: url) }

        let outcome = try await Self.read(url, as: "long.csv")
        let error = try #require(outcome.error)
        #expect(
            error.diagnostics.map(\.description) == [
                "long.csv:3:1: error: this row is longer than 1048576 bytes, the most one row may hold "
                    + "(is this the right file?)"
            ])
        #expect(error.stoppedEarly)

        let reader = try CSVReader(url: url, path: "long.csv")
        while try await reader.next() != nil {}
        #expect(reader.stoppedEarly)
        #expect(reader.bytesRead < 2 * CSVReader.defaultMaxRowBytes, "read \(reader.bytesRead) bytes")
    }

    @Test func afterFiftyProblemsReadingStopsAndSaysSo() async throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-many-\(UUID().uuidString).csv")
        defer { try? FileManager.default.removeItem(at: url) }
        let row = "6f1c2a52-8d3e-4b7a-9c1d-0a1b2c3d4e01,4uLU6hMCjMI75M1A2tKUQA,abc,USRC17607839\n"
        let text = "track_id,spotify_id,spotify_popularity,isrc\n" + String(repeating: row, count: 80)
        try await BlockingIO.runOnOwnThread { try Data(text.utf8).write(to: url) }

        let error = try #require(try await Self.read(url, as: "many.csv").error)
        #expect(error.diagnostics.count == CSVReader.defaultMaxProblems + 1)
        #expect(
            error.diagnostics.last?.description == "many.csv:51:61: error: too many problems (50); stopped reading here"
        )
        #expect(error.description.hasPrefix("the first 50 problems in many.csv (reading stopped there)"))
        #expect(error.stoppedEarly)
    }

    /// The problems the reader finds (bytes) and those the checks find (values) come in file
    /// order, are cut at the limit on the fiftieth whichever found it, and a problem that stops
    /// the reader comes last.
    @Test func problemsOfTheReaderAndOfTheChecksComeInFileOrder() async throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-mixed-\(UUID().uuidString).csv")
        defer { try? FileManager.default.removeItem(at: url) }
        let key = "6f1c2a52-8d3e-4b7a-9c1d-0a1b2c3d4"
        var bytes = Array("track_id,spotify_id,spotify_popularity,isrc\n".utf8)
        for row in 1...700 {
            let id = key + String(format: "%03x", row)
            switch row {
            case 300, 600:
                // Bytes that are not UTF-8, in the ISRC: the reader's problem.
                bytes += Array("\(id),4uLU6hMCjMI75M1A2tKUQA,42,US".utf8) + [0xFF] + Array("C17607839\n".utf8)
            case 301, 650:
                bytes += Array("\(id),4uLU6hMCjMI75M1A2tKUQA,abc,USRC17607839\n".utf8)
            default:
                bytes += Array("\(id),4uLU6hMCjMI75M1A2tKUQA,42,USRC17607839\n".utf8)
            }
        }
        // A NUL byte stops the reader: its problem comes after every other.
        bytes += Array("\(key)fff,4uLU6hMCjMI75M1A2tKUQA,4".utf8) + [0] + Array("2,USRC17607839\n".utf8)
        try await BlockingIO.runOnOwnThread { [bytes] in try Data(bytes).write(to: url) }
        let error = try #require(try await Self.read(url, as: "mixed.csv").error)
        #expect(
            error.diagnostics.map { "\($0.line):\($0.column) \($0.message.prefix(18))" } == [
                "301:66 invalid UTF-8 (byt", "302:61 column 'spotify_po", "601:66 invalid UTF-8 (byt",
                "651:61 column 'spotify_po", "702:62 a NUL byte: this l",
            ])
        #expect(error.stoppedEarly)

        // Past the limit: the cut falls on the fiftieth problem, whichever found it.
        var many = Array("track_id,spotify_id,spotify_popularity,isrc\n".utf8)
        for row in 1...120 {
            let id = key + String(format: "%03x", row)
            let popularity = row.isMultiple(of: 2) ? "abc" : "42"
            many += Array("\(id),4uLU6hMCjMI75M1A2tKUQA,\(popularity),US".utf8)
            many += (row % 4 == 1 ? [0xFF] : []) + Array("RC17607839\n".utf8)
        }
        try await BlockingIO.runOnOwnThread { [many] in try Data(many).write(to: url) }
        let cut = try #require(try await Self.read(url, as: "many.csv").error)
        let lines = cut.diagnostics.map(\.line)
        #expect(cut.diagnostics.count == CSVReader.defaultMaxProblems + 1)
        #expect(lines == lines.sorted())
        #expect(Set(lines.dropLast()).count == CSVReader.defaultMaxProblems)
        #expect(
            cut.diagnostics.last?.description
                == "many.csv:\(lines[49]):\(cut.diagnostics[49].column): error: too many problems (50); stopped reading here"
        )
        #expect(cut.stoppedEarly)
    }
}
