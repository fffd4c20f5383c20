import Foundation
import SluiceCore
import Testing

@testable import SluicePlan

/// `sluice check` reads the header of a `read-csv` stage's file: the fields it sends are then
/// known to the stages after it, the `columns` it lists are checked against the header, and a
/// file that is not there is a warning.
@Suite struct CSVHeaderCheckTests {
    static func plan(path: String, columns: String? = nil, transform: String) -> String {
        """
        version: 1
        name: r
        stages:
          - name: read
            kind: read-csv
            path: \(path)
        \(columns.map { "    columns: \($0)" } ?? "")
          - kind: transform
            fields: { \(transform) }
        """
    }

    /// Loads `yaml` reading CSV headers, on a thread of its own (it reads files).
    static func load(_ yaml: String) async throws -> Result<Plan, PlanError> {
        try await BlockingIO.runOnOwnThread {
            var loader = PlanLoader(environment: [:])
            loader.readsCSVHeaders = true
            return Result { () throws(PlanError) in
                try loader.load(bytes: Array(yaml.utf8), path: "plan.yaml", overrides: [])
            }
        }
    }

    static func withFile<T>(_ text: String, _ body: (String) async throws -> T) async throws -> T {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-header-\(UUID()).csv")
        try await BlockingIO.runOnOwnThread { try Data(text.utf8).write(to: url) }
        defer { Task { try? await BlockingIO.runOnOwnThread { try FileManager.default.removeItem(at: url) } } }
        return try await body(url.path)
    }

    @Test func theHeaderGivesTheFieldsTheNextStagesRead() async throws {
        try await Self.withFile("\u{FEFF}\"Book ID\",title,\"sc\"\"ore\"\r\nb1,T,3\r\n") { path in
            let good = try await Self.load(Self.plan(path: path, transform: #"id: "['Book ID']", t: title"#))
            _ = try good.get()
            guard case .failure(let error) = try await Self.load(Self.plan(path: path, transform: "t: titel")) else {
                Issue.record("a field the header lacks")
                return
            }
            #expect(
                error.errors.map(\.message) == [
                    "stage 'transform' reads field 'titel', which its input 'read' does not have (it has: Book ID, title, sc\"ore)"
                ])
            #expect(error.errors.first?.notes.first == "did you mean 'title'?")
        }
    }

    /// A path that is no string is the one mistake of its stage: no file of that name is looked
    /// for, and its columns still give the fields the stages after it read.
    @Test func aPathThatIsNoStringLooksForNoFileAndStillPassesItsColumnsOn() async throws {
        let yaml = Self.plan(path: "[in.csv]", columns: "[id]", transform: "a: idd")
        guard case .failure(let error) = try await Self.load(yaml) else {
            Issue.record("a path that is a list")
            return
        }
        #expect(
            error.diagnostics.map {
                "\($0.severity) \($0.location?.line ?? 0):\($0.location?.column ?? 0) \($0.message)"
            }
                == [
                    "error 6:11 'path' in stage 'read' must be a string, found a list",
                    "error 9:18 stage 'transform' reads field 'idd', which its input 'read' does not have (it has: id)",
                ], "\(error)")
    }

    /// A header ending in a comma has a column with no name, which the run would refuse: check
    /// says so at the stage's path; listing the columns to read is fine.
    @Test func aHeaderEndingInACommaIsAnErrorUnlessTheColumnsAreListed() async throws {
        try await Self.withFile("id,title,\n1,T,\n") { path in
            guard case .failure(let error) = try await Self.load(Self.plan(path: path, transform: "t: title")) else {
                Issue.record("an empty header name")
                return
            }
            #expect(
                error.errors.map(\.message) == [
                    "column 3 of the header of \(path) has no name (a comma at the end of the header line?)"
                ])
            _ = try await Self.load(Self.plan(path: path, columns: "[id, title]", transform: "t: title")).get()
        }
    }

    /// A listed column the header lacks is the error, with the header's nearest name; the stage
    /// after it is not also told to read the misspelling.
    @Test func aListedColumnTheHeaderLacksIsTheOneError() async throws {
        try await Self.withFile("id,score\n1,2\n") { path in
            guard
                case .failure(let error) = try await Self.load(
                    Self.plan(path: path, columns: "[id, scor]", transform: "s: score"))
            else {
                Issue.record("scor is not in the header")
                return
            }
            #expect(error.errors.map(\.message) == ["column 'scor' is not in the header of \(path)"])
            #expect(error.errors.first?.notes.first == "did you mean 'score'?")
            #expect(error.errors.first?.location?.line == 7)
        }
    }

    @Test func aFileThatIsNotThereIsAWarning() async throws {
        let plan = try await Self.load(Self.plan(path: "no-such-file.csv", transform: "s: score")).get()
        #expect(
            plan.warnings.map(\.message) == [
                "no-such-file.csv does not exist (yet): the run reads it from the working directory"
            ])
    }

    /// An empty file (or one whose first line is empty) has no header: the run stops at it
    /// ("the file is empty: expected a header row"), so check says so too, at the stage's path.
    @Test(arguments: ["", "\u{FEFF}", "\n", "\r\nid\n1\n"])
    func anEmptyFileIsAnError(text: String) async throws {
        try await Self.withFile(text) { path in
            guard case .failure(let error) = try await Self.load(Self.plan(path: path, transform: "s: score")) else {
                Issue.record("an empty file must fail check")
                return
            }
            #expect(error.errors.map(\.message) == ["\(path) is empty: expected a header row"], "\(error)")
            #expect(error.errors.first?.location?.line == 6)
        }
    }

    @Test func theFirstRecordIsReadAsRFC4180Says() {
        #expect(CSVHeader.fields(ofFirstLine: "a,\"b,c\",\"d\"\"e\"\r\nx") == ["a", "b,c", "d\"e"])
        #expect(CSVHeader.fields(ofFirstLine: "\"multi\nline\",z\nrest") == ["multi\nline", "z"])
        #expect(CSVHeader.fields(ofFirstLine: "") == [])
        #expect(CSVHeader.fields(ofFirstLine: "only") == ["only"])
    }
}

extension CSVHeaderCheckTests {
    /// A header naming a column twice fails check, where the run would fail.
    @Test func aColumnNamedTwiceInTheHeaderIsAnError() async throws {
        try await Self.withFile("id,name,id\n1,a,1\n") { path in
            guard case .failure(let error) = try await Self.load(Self.plan(path: path, transform: "n: name")) else {
                Issue.record("a duplicate column must fail check")
                return
            }
            #expect(error.errors.contains { $0.message.contains("names column 'id' twice") }, "\(error)")
        }
    }

    /// Numbers in text are not numbers to a rule's type: on a read-csv's fields a number type
    /// refuses every row; check says so, and how to convert. A `min` or `max` reads the text as
    /// a number, as the run does (it counts rejected_min): no warning that it never applies.
    @Test func numericRulesOnReadCSVTextAreWarnedOf() async throws {
        let yaml = """
            version: 1
            name: r
            stages:
              - kind: read-csv
                path: in.csv
                columns: [score, n]
              - kind: validate
                rules:
                  score: { max: 100 }
                  n: { type: double }
            """
        let plan = try SluicePlanTests.load(yaml)
        let messages = plan.warnings.map(\.message)
        #expect(!messages.contains { $0.contains("rule for 'score'") }, "\(messages)")
        #expect(messages.contains { $0.contains("rule for 'n': type double refuses every row") }, "\(messages)")
        #expect(plan.warnings.contains { $0.notes.contains { $0.contains("n: number(n)") } })
    }

    /// A bound on a value of a type that is never a number (uuid, bool) refuses every row with
    /// a value; on text (type string or any, a read-csv's or a query's) it applies.
    @Test(arguments: [("uuid", true), ("bool", true), ("string", false), ("any", false)])
    func aBoundOnAValueThatIsNeverANumberIsWarnedOf(type: String, warned: Bool) throws {
        let yaml = """
            version: 1
            name: r
            stages:
              - kind: read-csv
                path: in.csv
                columns: [n]
              - kind: validate
                rules:
                  n: { type: \(type), min: 1 }
            """
        let warnings = try SluicePlanTests.load(yaml).warnings.filter { $0.message.contains("min applies to numbers") }
        #expect(warnings.count == (warned ? 1 : 0), "\(warnings)")
        #expect(warnings.allSatisfy { $0.location?.line == 9 }, "\(warnings)")
    }
}
