import Foundation
import SluiceCore
import Testing

@testable import Sluice

@Suite struct WriteCSVStageTests {
    static let columns = ["isrc", "spotify_popularity", "extra", "track_id", "spotify_id"]

    @Test func writesRFC4180InThePlanColumnOrderAndPassesRowsOn() async throws {
        let stage = try TestPlans.stage("write-csv", of: try await TestPlans.spotify())
        let harness = try await StageHarness(stage: stage)
        let input = [
            Batch(
                columns: Self.columns,
                rows: [
                    ["USUM71703861", 73, "ignored", "id-1", "plain"],
                    [.null, 0, .null, "id-2", "with,comma"],
                ]),
            Batch(
                columns: Self.columns,
                rows: [
                    ["", .null, .null, "id-3", "say \"hi\""],
                    ["X", 5, .null, "id-4", "two\nlines"],
                ]),
        ]
        let out = try await harness.run(stage, input: input)
        #expect(out == input)

        let file = try #require(harness.artifacts("csv").first)
        #expect(file.lastPathComponent == "spotify_enrichment_20260301_123456.csv")
        #expect(file.deletingLastPathComponent().path == harness.runDirectory.path)
        #expect(try await mode(of: file) == 0o600)
        let written = try await text(of: file)
        #expect(
            written == "track_id,spotify_id,spotify_popularity,isrc\r\n"
                + "id-1,plain,73,USUM71703861\r\n"
                + "id-2,\"with,comma\",0,\r\n"
                + "id-3,\"say \"\"hi\"\"\",,\r\n"
                + "id-4,\"two\nlines\",5,X\r\n")
        #expect(harness.counters["csv_rows"] == 4)
        #expect(try await harness.files() == [file.lastPathComponent])  // no temporary file left
    }

    /// A text an API returned that a spreadsheet would run as a formula is written as it is (the
    /// audit trail is what `sluice apply` reads back) and said to be there, with where the first
    /// is; a negative number is not one.
    @Test func aValueASpreadsheetWouldRunIsPointedOut() async throws {
        let stage = try TestPlans.stage("write-csv", of: try await TestPlans.spotify())
        let harness = try await StageHarness(stage: stage)
        let formula = #"=HYPERLINK("http://evil.example","x")"#
        _ = try await harness.run(
            stage,
            input: [
                Batch(
                    columns: Self.columns,
                    rows: [["USUM71703861", 73, .null, "id-1", "-5"], [.string(formula), 1, .null, "id-2", "@x"]])
            ])
        let file = try #require(harness.artifacts("csv").first)
        #expect(try await text(of: file).contains(#""=HYPERLINK(""http://evil.example"",""x"")""#))
        #expect(
            harness.notices.contains {
                $0.contains("2 cells begin with =, +, -, @ or a tab (the first: line 3, column spotify_id)")
            }, "\(harness.notices)")
    }

    /// A NUL character an API sent stops the stage at its line and column, leaving no file: it
    /// went into the audit trail raw, and the apply after it failed naming no field. A column the
    /// CSV does not write may hold one.
    @Test func aNULCharacterIsRefusedAtItsLineAndColumn() async throws {
        let stage = try TestPlans.stage("write-csv", of: try await TestPlans.spotify())
        let harness = try await StageHarness(stage: stage)
        let input = [
            Batch(columns: Self.columns, rows: [["USUM71703861", 73, "not\u{0}written", "id-1", "plain"]]),
            Batch(columns: Self.columns, rows: [["X", 5, .null, "id-2", "a\u{0}b"]]),
        ]
        let error = await #expect(throws: StageError.self) { _ = try await harness.run(stage, input: input) }
        #expect(
            error?.message.hasPrefix(
                "spotify_enrichment_20260301_123456.csv line 3, column 'spotify_id': the value holds a NUL character "
                    + "(\\u0000), which a CSV file and a PostgreSQL text cannot hold") == true,
            "\(error.map { "\($0)" } ?? "")")
        #expect(try await harness.files().isEmpty)
    }

    /// One column: an empty value is written `""`, not as a blank line a reader would skip.
    @Test func aOneColumnFilesEmptyValueIsWrittenQuoted() async throws {
        let plan = try TestPlans.load(
            """
            version: 1
            name: one
            stages:
              - { kind: read-csv, path: in.csv, columns: [name] }
              - { name: out, kind: write-csv, path: one.csv, columns: [name] }
            """)
        let stage = try TestPlans.stage("out", of: plan)
        let harness = try await StageHarness(stage: stage)
        _ = try await harness.run(stage, input: [Batch(columns: ["name"], rows: [["a"], [.null], [""], ["c"]])])
        let file = try #require(harness.artifacts("csv").first)
        #expect(try await text(of: file) == "name\r\na\r\n\"\"\r\n\"\"\r\nc\r\n")
    }

    /// The eight-bytes-at-a-time scan finds a comma, quote, CR or LF wherever it sits (in a
    /// word or in the tail), and nothing in text without one, multi-byte characters included.
    @Test func everyByteThatNeedsQuotesIsFoundAtEveryPlace() {
        func scan(_ text: String) -> Bool {
            var text = text
            return text.withUTF8(CSVFileWriter.needsQuotes)
        }
        for length in [1, 7, 8, 9, 16, 23] {
            for special in [",", "\"", "\n", "\r"] {
                for place in 0..<length {
                    var characters = Array(repeating: "a", count: length)
                    characters[place] = special
                    #expect(scan(characters.joined()), "\(special.debugDescription) at \(place) of \(length)")
                }
            }
            #expect(!scan(String(repeating: "a", count: length)))
        }
        #expect(!scan("écrit à Zürich, 東京 ✓".replacingOccurrences(of: ",", with: ";")))
        #expect(!scan(""))
        var out: [UInt8] = []
        CSVFileWriter.appendField("a,b \"c\"", to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "\"a,b \"\"c\"\"\"")
    }

    @Test func anAbsolutePathIsUsedAsGiven() async throws {
        let directory = try await StageHarness.makeRunDirectory()
        let plan = try await TestPlans.spotify(overrides: ["write-csv.path=\(directory.path)/out-{run_id}.csv"])
        let stage = try TestPlans.stage("write-csv", of: plan)
        let harness = try await StageHarness(stage: stage)
        _ = try await harness.run(
            stage, input: [Batch(columns: ["track_id", "spotify_id", "spotify_popularity", "isrc"])])
        let file = try #require(harness.artifacts("csv").first)
        #expect(file.path == directory.appendingPathComponent("out-test-run.csv").path)
        #expect(
            try await text(of: file)
                == "track_id,spotify_id,spotify_popularity,isrc\r\n")
    }

    /// Two runs rendering the same absolute path (no timestamp in it): the second never
    /// replaces the first one's audit trail.
    @Test func anExistingFileIsNeverOverwritten() async throws {
        let directory = try await StageHarness.makeRunDirectory()
        let target = directory.appendingPathComponent("audit.csv")
        try await BlockingIO.runOnOwnThread { try Data("the first run's audit trail\n".utf8).write(to: target) }
        let plan = try await TestPlans.spotify(overrides: ["write-csv.path=\(target.path)"])
        let stage = try TestPlans.stage("write-csv", of: plan)
        let harness = try await StageHarness(stage: stage)
        let error = await #expect(throws: StageError.self) {
            _ = try await harness.run(
                stage, input: [Batch(columns: ["track_id", "spotify_id", "spotify_popularity", "isrc"])])
        }
        #expect(String(describing: error).contains("\(target.path) already exists"))
        #expect(String(describing: error).contains("{timestamp}"))
        let left = try await Self.left(target, in: directory)
        #expect(left.text == "the first run's audit trail\n")
        #expect(left.files == ["audit.csv"])
    }

    /// Two runs started in the same second render {timestamp} alike: the refusal then says to
    /// use {run_id}, not to add the {timestamp} the path has.
    @Test func aTimestampedPathTakenSaysToUseTheRunID() async throws {
        let directory = try await StageHarness.makeRunDirectory()
        let plan = try await TestPlans.spotify(overrides: ["write-csv.path=\(directory.path)/audit-{timestamp}.csv"])
        let stage = try #require(try TestPlans.stage("write-csv", of: plan) as? WriteCSVStage)
        let harness = try await StageHarness(stage: stage)
        let target = stage.url(runDirectory: harness.runDirectory, runID: "test-run", startedAt: StageHarness.startedAt)
        try await BlockingIO.runOnOwnThread { try Data("another run's\n".utf8).write(to: target) }
        let error = await #expect(throws: StageError.self) {
            _ = try await harness.run(
                stage, input: [Batch(columns: ["track_id", "spotify_id", "spotify_popularity", "isrc"])])
        }
        #expect(
            String(describing: error).contains(
                "put {run_id} (unlike {timestamp}, which two runs started in the same second share) in the path"),
            "\(String(describing: error))")
    }

    /// What `target` holds and which files `directory` holds, read off the cooperative pool.
    static func left(_ target: URL, in directory: URL) async throws -> (text: String, files: [String]) {
        try await BlockingIO.runOnOwnThread {
            (
                try String(contentsOf: target, encoding: .utf8),
                try FileManager.default.contentsOfDirectory(atPath: directory.path)
            )
        }
    }

    /// The same when the other file appears while this one is being written.
    @Test func aFileThatAppearsMeanwhileIsNotReplacedEither() async throws {
        let directory = try await StageHarness.makeRunDirectory()
        let target = directory.appendingPathComponent("audit.csv")
        let writer = try await CSVFileWriter(url: target, columns: ["a"], replaceExisting: false)
        try await writer.write(Batch(columns: ["a"], rows: [["1"]]))
        try await BlockingIO.runOnOwnThread { try Data("the other run's\n".utf8).write(to: target) }
        let error = await #expect(throws: CSVWriteError.self) { try await writer.commit() }
        #expect(error?.description == "cannot write \(target.path): File exists")
        let left = try await Self.left(target, in: directory)
        #expect(left.text == "the other run's\n")
        #expect(left.files == ["audit.csv"])
    }

    /// A directory made for the CSV (the run's own, removed while the run went on) holds data: it
    /// is 0700, whatever the umask; one that exists is left as it is.
    @Test func aDirectoryMadeForTheCSVIsPrivate() async throws {
        let directory = try await StageHarness.makeRunDirectory()
        let made = directory.appendingPathComponent("exports")
        let writer = try await CSVFileWriter(url: made.appendingPathComponent("audit.csv"), columns: ["a"])
        _ = try await writer.commit()
        #expect(try await mode(of: made) == 0o700)
        let shared = directory.appendingPathComponent("shared")
        try await BlockingIO.runOnOwnThread {
            try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: false)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: shared.path)
        }
        let beside = try await CSVFileWriter(url: shared.appendingPathComponent("audit.csv"), columns: ["a"])
        _ = try await beside.commit()
        #expect(try await mode(of: shared) == 0o755)
    }

    /// A path through a file (`/etc/passwd/x.csv`) names that file, not "already exists".
    @Test func aPathThroughAFileSaysWhichFileIsInTheWay() async throws {
        let directory = try await StageHarness.makeRunDirectory()
        let file = directory.appendingPathComponent("notes.txt")
        try await BlockingIO.runOnOwnThread { try Data("notes\n".utf8).write(to: file) }
        let target = file.appendingPathComponent("audit/x.csv")
        let error = await #expect(throws: CSVWriteError.self) {
            _ = try await CSVFileWriter(url: target, columns: ["a"], replaceExisting: false)
        }
        #expect(error?.description == "cannot write \(target.path): \(file.path) is a file, not a directory")
        // The file where the CSV's own directory would be.
        let beside = file.appendingPathComponent("x.csv")
        let direct = await #expect(throws: CSVWriteError.self) {
            _ = try await CSVFileWriter(url: beside, columns: ["a"], replaceExisting: false)
        }
        #expect(direct?.description == "cannot write \(beside.path): \(file.path) is a file, not a directory")
    }

    @Test func aMissingColumnFailsAndLeavesNoFile() async throws {
        let stage = try TestPlans.stage("write-csv", of: try await TestPlans.spotify())
        let harness = try await StageHarness(stage: stage)
        await #expect(throws: StageError.self) {
            try await harness.run(stage, input: [Batch(columns: ["track_id", "spotify_id"], rows: [["a", "b"]])])
        }
        #expect(try await harness.files().isEmpty)
    }
}
