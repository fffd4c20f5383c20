import Testing

@testable import SluicePlan

/// `check` reports every mistake of a plan in one pass: a stage's own error stops neither its
/// other checks nor the fields it passes on to the stages after it, and what only follows from
/// an error (a field unknown because its stage's setting did not check) is not a second one.
@Suite struct ErrorsInOnePassTests {
    /// Every stage kind but read-csv, each with a key set to its default on a line of its own
    /// (`method: GET`, `keep_input: false`, ...) for a case to replace.
    static let plan = """
        version: 1
        name: tracks
        connections:
          db: { kind: postgres, url: "postgres://localhost/music" }
          api: { kind: http, base_url: "http://127.0.0.1:9/v1" }
        stages:
          - kind: query
            connection: db
            sql: SELECT id AS track_id, spotify_id FROM tracks
          - kind: chunk
            size: 50
          - kind: fetch
            connection: api
            path: /tracks
            id: spotify_id
            method: GET
            items_key: tracks
          - kind: transform
            keep_input: false
            fields:
              track_id: track_id
              popularity: response.popularity
          - kind: validate
            on_invalid: reject
            rules:
              track_id: { type: uuid, required: true }
              popularity: { type: int, min: 0, max: 100 }
          - kind: write-csv
            path: out.csv
            columns:
              - track_id
              - popularity
          - kind: apply
            connection: db
            table: tracks
            key: id
            key_field: track_id
            mode: update
            analyze: true
            columns:
              popularity: { from: popularity, on_empty: keep }
          - kind: verify
            connection: db
            checks:
              - sql: SELECT COUNT(*) FROM tracks
                expect: ">= 0"
              - sql: SELECT COUNT(popularity) FROM tracks
                expect: ">= {{ stages.apply.filled_popularity }}"

        """

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        /// Whole lines of ``plan`` (without their indentation) and what replaces each.
        var edits: [(String, String)]
        /// Each error, in order, as `LINE:COL` and the start of its message.
        var errors: [String]
        var testDescription: String { name }
    }

    /// The errors of ``plan`` with `edits` made, as `LINE:COL message`.
    static func errorsOf(_ edits: [(String, String)]) -> [String] {
        var lines = plan.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (old, new) in edits {
            let i = lines.firstIndex { $0.trimmingCharacters(in: .whitespaces) == old }!
            lines[i] = String(lines[i].prefix { $0 == " " }) + new
        }
        return errors(lines.joined(separator: "\n")).map {
            "\($0.location?.line ?? 0):\($0.location?.column ?? 0) \($0.message)"
        }
    }

    /// The errors of the case's plan are the case's, in order.
    static func expectErrors(_ c: Case) {
        let found = errorsOf(c.edits)
        #expect(
            found.count == c.errors.count && zip(found, c.errors).allSatisfy { $0.hasPrefix($1) },
            "\(found.joined(separator: "\n"))")
    }

    static let independent: [Case] = [
        Case(
            name: "a fetch's wrong match hides neither its id's field nor a validate rule's",
            edits: [
                ("method: GET", "match: bogus"), ("id: spotify_id", "id: upper(spotifyid)"),
                ("popularity: { type: int, min: 0, max: 100 }", "popularty: { type: int, min: 0, max: 100 }"),
            ],
            errors: [
                "15:9 id 'upper(spotifyid)' reads field 'spotifyid', which the input does not have",
                "16:12 'match' in stage 'fetch' must be one of position, object_keys",
                "27:18 stage 'validate' reads field 'popularty', which its input 'transform' does not have",
            ]),
        Case(
            name: "a transform's wrong keep_input still passes its fields on",
            edits: [
                ("keep_input: false", "keep_input: maybe"), ("- popularity", "- popularty"),
                ("key_field: track_id", "key_field: trackid"),
            ],
            errors: [
                "19:17 'keep_input' in stage 'transform' must be true or false, found 'maybe'",
                "32:9 stage 'write-csv' reads field 'popularty', which its input 'validate' does not have",
                "37:16 stage 'apply' reads field 'trackid', which its input 'write-csv' does not have",
            ]),
        Case(
            name: "a validate's wrong on_invalid still checks its rules",
            edits: [
                ("on_invalid: reject", "on_invalid: rejct"),
                ("popularity: { type: int, min: 0, max: 100 }", "popularty: { type: int, min: 0, max: 100 }"),
                ("popularity: { from: popularity, on_empty: keep }", "popularity: { from: populrity, on_empty: keep }"),
            ],
            errors: [
                "24:17 'on_invalid' in stage 'validate' must be one of reject, fail, found 'rejct'",
                "27:18 stage 'validate' reads field 'popularty', which its input 'transform' does not have",
                "41:27 stage 'apply' reads field 'populrity', which its input 'write-csv' does not have",
            ]),
        Case(
            name: "a column after one that did not check is located at its own line",
            edits: [("- track_id", "- [track_id]"), ("- popularity", "- popularty")],
            errors: [
                "31:9 item 1 of 'columns' in stage 'write-csv' must be a string, found a list",
                "32:9 stage 'write-csv' reads field 'popularty', which its input 'validate' does not have",
            ]),
        Case(
            name: "a check after one that is no mapping is still checked, at its own line",
            edits: [
                ("- sql: SELECT COUNT(*) FROM tracks", "- SELECT COUNT(*) FROM tracks"),
                ("expect: \">= 0\"", "# no expect"),
                (
                    "expect: \">= {{ stages.apply.filled_popularity }}\"",
                    "expect: \">= {{ stages.aply.filled_popularity }}\""
                ),
            ],
            errors: [
                "45:9 item 1 of 'checks' in stage 'verify' must be a mapping",
                "48:31 'expect' in item 2 of 'checks' in stage 'verify' reads unknown stage 'aply'",
            ]),
        Case(
            name: "a fetch's path that does not parse hides neither its id's field nor a column after it",
            edits: [
                ("path: /tracks", "path: /tracks/{id"), ("id: spotify_id", "id: upper(spotifyid)"),
                ("- popularity", "- popularty"),
            ],
            errors: [
                "14:19 'path' in stage 'fetch': '{' without '}'",
                "15:9 id 'upper(spotifyid)' reads field 'spotifyid', which the input does not have",
                "32:9 stage 'write-csv' reads field 'popularty', which its input 'validate' does not have",
            ]),
        Case(
            name: "a fetch's path left out still checks its id",
            edits: [("path: /tracks", "# no path"), ("id: spotify_id", "id: upper(spotifyid)")],
            errors: [
                "12:5 stage 'fetch' is missing required key 'path'",
                "15:9 id 'upper(spotifyid)' reads field 'spotifyid', which the input does not have",
            ]),
        Case(
            name: "a fetch's path misspelt still checks its id",
            edits: [("path: /tracks", "pth: /tracks"), ("id: spotify_id", "id: upper(spotifyid)")],
            errors: [
                "14:5 unknown key 'pth' in stage 'fetch'",
                "15:9 id 'upper(spotifyid)' reads field 'spotifyid', which the input does not have",
            ]),
        Case(
            name: "a write-csv's path that is no path hides not the apply's key_field",
            edits: [("path: out.csv", "path: [out.csv]"), ("key_field: track_id", "key_field: trackid")],
            errors: [
                "29:11 'path' in stage 'write-csv' must be a path template, found a list",
                "37:16 stage 'apply' reads field 'trackid', which its input 'write-csv' does not have",
            ]),
        Case(
            name: "an apply's key that is no string hides not its columns' fields",
            edits: [
                ("key: id", "key: [id]"),
                ("popularity: { from: popularity, on_empty: keep }", "popularity: { from: populrity, on_empty: keep }"),
            ],
            errors: [
                "36:10 'key' in stage 'apply' must be a string, found a list",
                "41:27 stage 'apply' reads field 'populrity', which its input 'write-csv' does not have",
            ]),
    ]

    /// Two or three mistakes in different stages are all reported, each where it is written, in
    /// the file's order.
    @Test(arguments: independent)
    func everyIndependentErrorIsReportedAtOnce(_ c: Case) {
        Self.expectErrors(c)
    }

    static let consequences: [Case] = [
        Case(
            name: "a misspelt response_field: the answer's field is not known",
            edits: [
                ("method: GET", "respons_field: answer"),
                ("popularity: response.popularity", "popularity: answer.popularity"),
            ],
            errors: ["16:5 unknown key 'respons_field' in stage 'fetch'"]),
        Case(
            name: "a misspelt keep_input: the input's fields may pass on",
            edits: [("keep_input: false", "kep_input: true"), ("track_id: track_id", "title: spotify_id")],
            errors: ["19:5 unknown key 'kep_input' in stage 'transform'"]),
        Case(
            name: "a transform's field that is no expression is still one of its fields",
            edits: [("popularity: response.popularity", "popularity: { of: response }")],
            errors: ["22:19 output field 'popularity' must be an expression, found a mapping"]),
        Case(
            name: "an apply column that is no mapping still has its counter",
            edits: [("popularity: { from: popularity, on_empty: keep }", "popularity: keep")],
            errors: ["41:19 column 'popularity' must be a mapping"]),
        Case(
            name: "a wrong method leaves the request's shape unknown",
            edits: [("method: GET", "method: PST"), ("items_key: tracks", "body: { ids: \"{ids}\" }")],
            errors: ["16:13 'method' in stage 'fetch' must be one of GET, POST, found 'PST'"]),
        Case(
            name: "a wrong max_ids says nothing of the chunk before it",
            edits: [("method: GET", "max_ids: fifty"), ("size: 50", "size: 100")],
            errors: ["16:14 'max_ids' in stage 'fetch' must be an integer"]),
        Case(
            name: "a wrong mode says nothing of max_unknown",
            edits: [("mode: update", "mode: upsrt"), ("analyze: true", "max_unknown: 5")],
            errors: ["38:11 'mode' in stage 'apply' must be one of update, upsert, insert, found 'upsrt'"]),
        Case(
            name: "a fetch's connection that is no name is not also undefined",
            edits: [("connection: api", "connection: [api]")],
            errors: ["13:17 'connection' in stage 'fetch' must be name of a http connection, found a list"]),
        Case(
            name: "a fetch's path that does not parse leaves the request's shape unknown",
            edits: [("path: /tracks", "path: /tracks/{spotify_id"), ("id: spotify_id", "# per item: no id")],
            errors: ["14:19 'path' in stage 'fetch': '{' without '}'"]),
        Case(
            name: "an apply's key that is no string is not also a field its input lacks",
            edits: [("key: id", "key: [id]"), ("key_field: track_id", "# key_field: the key's")],
            errors: ["36:10 'key' in stage 'apply' must be a string, found a list"]),
        Case(
            name: "a stage named like an earlier one: which the stages after it read is not known",
            edits: [("- kind: transform", "- name: query\n    kind: transform")],
            errors: ["18:11 duplicate stage name 'query'"]),
        Case(
            name: "a misspelt key_field is not also the key's default read as a field",
            edits: [("key_field: track_id", "keyfield: track_id")],
            errors: ["37:5 unknown key 'keyfield' in stage 'apply'"]),
        Case(
            name: "a transform's fields that are no mapping: what it passes on is not known",
            edits: [
                ("fields:", "fields: 3"), ("track_id: track_id", "# none"),
                ("popularity: response.popularity", "# none"), ("- popularity", "- popularty"),
            ],
            errors: ["20:13 'fields' in stage 'transform' must be a mapping"]),
        Case(
            name: "an apply's columns that are no mapping: its filled_ counters are not known",
            edits: [("popularity: { from: popularity, on_empty: keep }", "- popularity")],
            errors: ["41:7 'columns' in stage 'apply' must be a mapping"]),
    ]

    /// A setting that did not check stands in as its default for the stage's other checks, but
    /// nothing that only follows from it is reported: one mistake, one error.
    @Test(arguments: consequences)
    func aConsequenceOfAnErrorIsNotASecondError(_ c: Case) {
        Self.expectErrors(c)
    }
}
