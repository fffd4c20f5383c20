import Foundation
import SluiceCore
import Testing

@testable import SluicePlan

/// The repository's own plans directory, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

let spotifyEnvironment = [
    "DATABASE_URL": "postgresql://enricher:db-pass-123@127.0.0.1:5432/music",
    "SPOTIFY_CLIENT_ID": "client-id-abc",
    "SPOTIFY_CLIENT_SECRET": "client-secret-xyz",
]

func load(_ yaml: String, env: [String: String] = [:], overrides: [String] = []) throws(PlanError) -> Plan {
    try PlanLoader(environment: env).load(bytes: Array(yaml.utf8), path: "plan.yaml", overrides: overrides)
}

func errors(_ yaml: String, env: [String: String] = [:], overrides: [String] = []) -> [Diagnostic] {
    do {
        _ = try load(yaml, env: env, overrides: overrides)
        return []
    } catch {
        return error.errors
    }
}

let minimal = """
    version: 1
    name: demo
    connections:
      db: { kind: postgres, url: "${DB_URL:-postgres://localhost/db}" }
      api: { kind: http, base_url: "http://127.0.0.1:9/v1" }
    stages:
      - kind: query
        connection: db
        sql: SELECT id, spotify_id FROM tracks
      - kind: chunk
        size: 50
      - kind: fetch
        connection: api
        path: /tracks
        id: spotify_id
        delay: 0.33s

    """

@Suite struct PlanLoaderTests {
    @Test func loadsTheSpotifyPlan() async throws {
        let path = repositoryRoot.appendingPathComponent("plans/spotify-enrichment.yaml").path
        let plan = try await BlockingIO.runOnOwnThread {
            try PlanLoader(environment: spotifyEnvironment).load(path: path)
        }
        #expect(
            plan.stages.map(\.name) == [
                "query", "chunk", "fetch", "transform", "validate", "write-csv", "apply", "verify",
            ])
        #expect(plan.stages.map(\.kind) == StageKind.allCases.filter { $0 != .readCSV })
        #expect(plan.stage(named: "chunk")?.chunk?.size == 50)
        #expect(plan.stage(named: "fetch")?.fetch?.delay == 0.33)
        #expect(plan.stage(named: "apply")?.requiresApproval == true)
        #expect(
            plan.stage(named: "write-csv")?.writeCSV?.columns == [
                "track_id", "spotify_id", "spotify_popularity", "isrc",
            ])
        #expect(plan.stage(named: "apply")?.apply?.columns.map(\.onEmpty) == [.keep, .clear])
        #expect(plan.connection(named: "spotify")?.http?.baseURL == "https://api.spotify.com/v1")
        #expect(plan.connection(named: "spotify")?.http?.auth?.oauth2?.clientSecret.value == "client-secret-xyz")
        #expect(plan.warnings.isEmpty)
    }

    @Test func validationProducesTheTypedPlan() throws {
        let yaml = minimal.replacingOccurrences(
            of: "    delay: 0.33s\n",
            with: """
                    delay: 0.33s
                    on_not_found: keep
                  - kind: transform
                    fields: { n: "upper(response.name)" }
                  - kind: validate
                    rules: { n: { type: string, max_length: 10 } }
                    on_invalid: fail
                  - kind: verify
                    connection: db
                    checks: [{ sql: "SELECT 1", expect: ">= {{ stages.validate.rows_out }} * 0.5" }]

                """)
        let plan = try load(yaml)
        guard case .fetch(let fetch) = plan.stage(named: "fetch")?.configuration,
            case .transform(let transform) = plan.stage(named: "transform")?.configuration,
            case .validate(let validate) = plan.stage(named: "validate")?.configuration,
            case .verify(let verify) = plan.stage(named: "verify")?.configuration
        else {
            Issue.record("stages of the wrong kind: \(plan.stages.map(\.kind))")
            return
        }
        #expect(fetch.method == .get)
        #expect(fetch.onNotFound == .keep)
        #expect(fetch.id == .path(field: "spotify_id", keys: []))
        #expect(transform.fields.first?.expression == .call(.upper, [.path(field: "response", keys: ["name"])]))
        #expect(validate.rules.first?.type == .string)
        #expect(validate.onInvalid == .fail)
        #expect(verify.checks.first?.expectations.count == 1)
        #expect(verify.checks.first?.expectations.first?.column == nil)
        #expect(
            verify.checks.first?.expectations.first?.expect.operand
                == .stageCounter(stage: "validate", counter: "rows_out"))
        #expect(verify.checks.first?.expectations.first?.expect.factor == 0.5)
        #expect(verify.checks.first?.name == "SELECT 1")
        #expect(plan.connection(named: "db")?.postgres?.connectTimeout == 10)
    }

    /// `expect` as a mapping: one expectation per column of the query's row, in the plan's order.
    @Test func aCheckMayExpectSeveralColumns() throws {
        let yaml =
            minimal + """
                  - kind: verify
                    connection: db
                    checks:
                      - sql: SELECT COUNT(*) AS total, COUNT(isrc) AS filled FROM tracks
                        expect:
                          total: ">= {{ stages.query.rows_out }}"
                          filled: "> 2"

                """
        guard case .verify(let verify) = try load(yaml).stage(named: "verify")?.configuration else {
            Issue.record("no verify stage")
            return
        }
        let expectations = try #require(verify.checks.first?.expectations)
        #expect(expectations.map(\.column) == ["total", "filled"])
        #expect(expectations[0].expect.operand == .stageCounter(stage: "query", counter: "rows_out"))
        #expect(expectations[1].expect.comparison == .greater)
        #expect(expectations[1].expect.operand == .number(2))
        #expect(verify.checks.first?.hasColumns == true)
    }

    @Test func diagnosticsCarryAMachineCode() {
        let yaml =
            minimal
            .replacingOccurrences(of: "size: 50", with: "size: 0\n    sise: 3")
            .replacingOccurrences(of: "delay: 0.33s", with: "delay: soon\n    input: nowhere")
            .replacingOccurrences(of: "path: /tracks", with: "path: /tracks\n    path: /again")
            .replacingOccurrences(of: "- kind: query", with: "- kind: qery")
        let codes = errors(yaml).compactMap(\.code)
        #expect(codes.contains(.unknownKey("sise")))
        #expect(codes.contains(.outOfRange(path: "stages.chunk.size")))
        #expect(codes.contains(.invalidValue(path: "stages.fetch.delay")))
        #expect(codes.contains(.duplicateKey("path")))
        #expect(codes.contains(.unknownKind("qery")))
        #expect(codes.contains(.unknownReference("nowhere")))
        let missing = errors(minimal.replacingOccurrences(of: "    size: 50\n", with: "")).compactMap(\.code)
        #expect(missing == [.missingKey("size")])
    }

    @Test func stagesDefaultTheirNameToTheKindAndReadThePreviousStage() throws {
        let plan = try load(minimal)
        #expect(plan.stages.map(\.name) == ["query", "chunk", "fetch"])
        #expect(plan.stages.map(\.input) == [nil, "query", "chunk"])
        #expect(plan.stage(named: "fetch")?.fetch?.retries == 5)  // documented default filled in
        #expect(plan.stage(named: "query")?.requiresApproval == false)
    }

    /// A chunk bigger than its fetch's `max_ids`: the note says where that limit comes from,
    /// the plan (the endpoint's) or the default, also when the fetch has another mistake.
    @Test func aChunkOverMaxIDsNamesWhereTheLimitComesFrom() {
        let set = minimal.replacingOccurrences(of: "delay: 0.33s", with: "delay: 0.33s\n    max_ids: 20")
        for plan in [set, set.replacingOccurrences(of: "delay: 0.33s", with: "delay: soon")] {
            let found = errors(plan).first { $0.message.hasPrefix("chunk size 50 is more than the 20 ids") }
            #expect(
                found?.notes == ["set size to at most 20 (fetch max_ids, the most the endpoint takes in one request)"],
                "\(errors(plan))")
        }
    }

    /// Each parameter given is located where it was written: its line in the file, or the
    /// --set that gave it (at its value); a default has no location.
    @Test func parametersAreLocatedInTheFileOrInTheirSet() throws {
        let plan = try load(minimal, overrides: ["chunk.size=20", "fetch.delay=1s"])
        let fetch = try #require(plan.stage(named: "fetch"))
        #expect(fetch.parameterLocations["path"]?.description == "plan.yaml:14:11")
        // The second --set: --set:2:COL, so that several can be told apart.
        #expect(fetch.parameterLocations["delay"]?.description == "--set:2:13")
        #expect(fetch.parameterLocations["retries"] == nil)
        #expect(plan.stage(named: "chunk")?.parameterLocations["size"]?.description == "--set:1:12")
    }

    /// A replay loads the run's recorded overrides before the command's own: those are numbered
    /// from 1 all the same, so an error in the first --set typed is at `--set:1`, not after the
    /// recorded ones.
    @Test func aReplaysOwnSetIsNumberedApartFromTheRecordedOnes() throws {
        var loader = PlanLoader(environment: [:])
        loader.recordedOverrides = 2
        let plan = try loader.load(
            bytes: Array(minimal.utf8), path: "plan.yaml",
            overrides: ["chunk.size=20", "fetch.retries=2", "fetch.delay=1s"])
        let fetch = try #require(plan.stage(named: "fetch"))
        #expect(fetch.parameterLocations["delay"]?.description == "--set:1:13")
        #expect(fetch.parameterLocations["retries"]?.description == "recorded --set:2:15")
        let error = #expect(throws: PlanError.self) {
            try loader.load(
                bytes: Array(minimal.utf8), path: "plan.yaml",
                overrides: ["chunk.size=20", "fetch.retries=2", "fetch.delay=soon"])
        }
        #expect(error?.errors.map { $0.location?.description } == ["--set:1:13"], "\(String(describing: error))")
    }

    /// A `--set` value is YAML: `ISBN:` is a mapping, not the text a string parameter wants.
    /// The error says how to give it as text.
    @Test func aSetValueReadAsAMappingSaysToQuoteIt() throws {
        let error = #expect(throws: PlanError.self) {
            try load(minimal, overrides: ["fetch.id_prefix=ISBN:"])
        }
        let found = try #require(error?.errors.first)
        #expect(found.message.contains("must be a string, found a mapping"), "\(found)")
        #expect(
            found.notes.contains { $0.contains("a --set value is read as YAML; to give it as text, quote it") },
            "\(found.notes)")
        #expect(try load(minimal, overrides: [#"fetch.id_prefix="ISBN:""#]).stage(named: "fetch") != nil)
    }

    /// A statement_timeout PostgreSQL refuses (over 2147483647 ms), or past an integer's range,
    /// is refused where it is written, not by the server (or a crash) as the run connects.
    @Test(arguments: ["1000h", "99999999999999999999"])
    func aStatementTimeoutPostgreSQLRefusesIsLocated(timeout: String) {
        let plan = minimal.replacingOccurrences(
            of: "db: { kind: postgres, url: \"${DB_URL:-postgres://localhost/db}\" }",
            with: "db: { kind: postgres, url: \"${DB_URL:-postgres://localhost/db}\", statement_timeout: \(timeout) }")
        let found = errors(plan).map { "\($0.location?.line ?? 0):\($0.location?.column ?? 0) \($0.message)" }
        #expect(found.count == 1 && found[0].hasPrefix("4:87 'statement_timeout' in connection 'db' is "), "\(found)")
        #expect(found.first?.hasSuffix(", above the maximum 596h") == true, "\(found)")
        #expect(errors(plan.replacingOccurrences(of: timeout, with: "596h")).isEmpty)
    }

    /// A database URL libpq would refuse as the run connects (read by libpq's own parser, or a
    /// port it takes as text) is refused where it is written, from a variable too, and the error
    /// never quotes its password (libpq's own message quotes the whole URL).
    @Test(arguments: [
        ("postgresql://enricher:S3CRETpw@db.internal:notaport/music", "its port 'notaport' is not a number"),
        ("postgresql://enricher:S3CRETpw@db.internal:99999/music", "its port '99999' is not a number"),
        ("postgresql://enricher:S3CRETpw@[::1/music", "libpq cannot read it: end of string reached when looking"),
        ("postgresql://enricher:S3CRETpw@db.internal/music?x=1", "'x' is not an option libpq knows"),
        ("postgres://enricher:S3CRET%zzpw@db.internal/music", "libpq cannot read it: invalid percent-encoded"),
        ("host=db.internal port=5432,6543 dbname=music", "it names 2 ports for 1 host"),
        ("postgresql://enricher:S3CRETpw@db.internal/music?sslmode=verify", "its sslmode 'verify' is not one libpq"),
        ("postgresql://enricher:S3CRETpw@db.internal/music?application_name=a@b&x=1", "'x' is not an option libpq"),
    ])
    func aDatabaseURLLibpqRefusesIsLocated(url: String, said: String) {
        let plan = minimal.replacingOccurrences(of: "\"${DB_URL:-postgres://localhost/db}\"", with: "\"${DB_URL}\"")
        let found = errors(plan, env: ["DB_URL": url]).map {
            "\($0.location?.line ?? 0):\($0.location?.column ?? 0) \($0.message)"
        }
        let prefix = "4:30 'url' in connection 'db' (as ${DB_URL} gives it): "
        #expect(found.count == 1 && found[0].hasPrefix(prefix + said) && !found[0].contains("S3CRET"), "\(found)")
    }

    /// An option libpq does not know, in key=value settings or a URL's query, is named at the url
    /// with the nearest one it knows (not taken for a value wanting quotes); the password is not
    /// quoted. One after an unquoted password may be the rest of it: it is not named.
    @Test(arguments: [
        ("host=db.internal dbnam=music password=S3CRETpw", "dbnam", "dbname"),
        ("host=db.internal password='S3CRET pw' sslmod=verify-full", "sslmod", "sslmode"),
        ("postgresql://enricher:S3CRETpw@db.internal/music?sslmod=verify-full", "sslmod", "sslmode"),
        ("host=db.internal dbname=music frobnicate=1", "frobnicate", nil),
    ])
    func anUnknownDatabaseURLOptionIsNamedWithTheNearestOne(url: String, option: String, nearest: String?) throws {
        let plan = minimal.replacingOccurrences(of: "\"${DB_URL:-postgres://localhost/db}\"", with: "\"${DB_URL}\"")
        let found = errors(plan, env: ["DB_URL": url])
        let error = try #require(found.first)
        #expect(found.count == 1, "\(found)")
        #expect(error.location?.description == "plan.yaml:4:30")
        #expect(
            error.message
                == "'url' in connection 'db' (as ${DB_URL} gives it): '\(option)' is not an option libpq knows")
        #expect(error.notes.first == nearest.map { "did you mean '\($0)'?" } ?? error.notes.first)
        #expect(error.notes.count == (nearest == nil ? 1 : 2), "\(error.notes)")
        #expect(!"\(error)".contains("S3CRET"))
        let misread = errors(plan, env: ["DB_URL": "host=db.internal password=S3CRET pw=x"])
        #expect(misread.isEmpty, "left to the advice that it is misread: \(misread)")
    }

    /// `PGSSLMODE` with a value libpq does not know, for a URL that sets no sslmode, is refused at
    /// the url as libpq refuses it as the run connects; a URL's own sslmode wins over it.
    @Test func anUnknownPGSSLModeIsLocatedAtTheURL() {
        let plan = minimal.replacingOccurrences(of: "\"${DB_URL:-postgres://localhost/db}\"", with: "\"${DB_URL}\"")
        let url = "postgresql://enricher:S3CRETpw@db.internal/music"
        let found = errors(plan, env: ["DB_URL": url, "PGSSLMODE": "verify_full"]).map {
            "\($0.location?.line ?? 0):\($0.location?.column ?? 0) \($0.message)"
        }
        #expect(
            found == [
                "4:30 'url' in connection 'db' (as ${DB_URL} gives it): it sets no sslmode, and PGSSLMODE in the "
                    + "environment, 'verify_full', is not one libpq knows: it knows disable, allow, prefer, require, "
                    + "verify-ca, verify-full"
            ], "\(found)")
        #expect(
            errors(plan, env: ["DB_URL": url, "PGSSLMODE": "verify_full"]).map(\.notes) == [
                [
                    "PGSSLMODE comes from the environment sluice runs in: unset it, or give the URL its own sslmode "
                        + "(?sslmode=verify-full), which libpq reads first"
                ]
            ])
        #expect(errors(plan, env: ["DB_URL": url + "?sslmode=verify-full", "PGSSLMODE": "verify_full"]).isEmpty)
        #expect(errors(plan, env: ["DB_URL": url, "PGSSLMODE": "verify-full"]).isEmpty)
    }

    /// What libpq reads (ports by host, the options it knows), and a URL it would misread (left
    /// to the transport advice, which quotes nothing of it), is not refused.
    @Test func aDatabaseURLLibpqReadsIsNot() {
        let plan = minimal.replacingOccurrences(of: "\"${DB_URL:-postgres://localhost/db}\"", with: "\"${DB_URL}\"")
        let urls = [
            "postgresql://enricher:S3CRETpw@db.internal:5432/music?sslmode=verify-full&application_name=x",
            "postgresql://u@h1:5432,h2:6543/music", "postgresql://u@[::1]:5432/music", "postgresql:///music",
            "postgresql://enricher:S3C/RETpw@db.internal/music", "host=h1,h2 port=5432 dbname=music", "music",
            "host=h password='two words'", "postgresql://enricher:S3CRETpw@db.internal/music?application_name=a@b",
        ]
        #expect(urls.filter { !errors(plan, env: ["DB_URL": $0]).isEmpty } == [])
    }

    @Test func durationsAcceptEveryDocumentedForm() {
        #expect(Duration.parseSeconds("0.33s") == 0.33)
        #expect(Duration.parseSeconds("500ms") == 0.5)
        #expect(Duration.parseSeconds("2m") == 120)
        #expect(Duration.parseSeconds("1h") == 3600)
        #expect(Duration.parseSeconds("1m30s") == 90)
        #expect(Duration.parseSeconds("2") == 2)
        #expect(Duration.parseSeconds("2 parsecs") == nil)
        #expect(Duration.parseSeconds("s") == nil)
        #expect(Duration.parseSeconds("") == nil)
    }

    /// Durations are shown as they would be written: `500ms`, not `500.0ms`.
    @Test func durationsAreDescribedInTheirShortestForm() {
        let shown = [0, 0.001, 0.33, 0.5, 0.0125, 1, 2.5, 120, 90, 3600, 7200, 3.6e22, 6e20].map(Duration.describe)
        #expect(
            shown == [
                "0s", "1ms", "330ms", "500ms", "12.5ms", "1s", "2.5s", "2m", "90s", "1h", "2h", "1e+19h", "1e+19m",
            ], "\(shown)")
    }

    /// A stage whose kind is misspelt is reported once: the stage reading from it is not also
    /// said to read from an unknown stage.
    @Test func aStageWithAnUnknownKindIsNotAlsoAnUnknownInput() {
        let plan = minimal.replacingOccurrences(of: "  - kind: chunk\n", with: "  - name: chunk\n    kind: chnk\n")
        let found = errors(plan)
        #expect(found.count == 1, "\(found.map(\.message))")
        #expect(found.first?.message.contains("chnk") == true, "\(found.map(\.message))")
        #expect(!found.contains { $0.message.contains("unknown stage") })
    }

    /// A stage whose `input` names itself is told it cannot read its own output, not offered its
    /// own name as a "did you mean", and its fields are not checked against its own output.
    @Test func aStageReadingItselfIsToldSo() {
        let plan = minimal + "  - kind: transform\n    name: t\n    input: t\n    fields:\n      v: spotify_id\n"
        let found = errors(plan)
        #expect(
            found.map(\.message) == ["stage 't' cannot read its own output: 'input' names a stage before it"],
            "\(found.map(\.message))")
        #expect(found.first?.location?.description == "plan.yaml:19:12")
        #expect(found.first?.notes == ["leave 'input' out to read the stage just before it ('fetch')"])
    }

    /// The line a diagnostic quotes is safe on a terminal: an escape sequence, a NUL or a
    /// bidirectional override in a plan (or in a binary file given as one) is shown, not sent.
    @Test func aQuotedLineShowsControlAndFormatCharactersInsteadOfSendingThem() throws {
        let text = "version: 1\nname: \"a\u{202E}b\u{1B}[31m\u{0}\"\n"
        let error = try #require(throws: PlanError.self) {
            try PlanLoader(environment: [:]).load(bytes: Array(text.utf8), path: "plan.yaml")
        }
        let rendered = error.description
        #expect(rendered.contains("name: \"a\u{FFFD}b\u{241B}[31m\u{2400}\""), "\(rendered)")
        #expect(!rendered.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        #expect(!rendered.unicodeScalars.contains { $0.properties.generalCategory == .format })
    }

    /// A plan saved with CRLF line ends (Windows editors) is quoted as one with LF: the line,
    /// then the caret under the column ("\r\n" is one Character, so the lines were not split).
    @Test func aCRLFPlanQuotesTheLineAndTheCaretAsALFOne() throws {
        let lf = minimal + "  - kind: transform\n    fields: { n: upperr(id) }\n"
        func rendered(_ text: String) throws -> String {
            let error = try #require(throws: PlanError.self) {
                try PlanLoader(environment: [:]).load(bytes: Array(text.utf8), path: "plan.yaml")
            }
            return error.description
        }
        let expected = try rendered(lf)
        #expect(expected.contains("fields: { n: upperr(id) }\n") && expected.contains("^"), "\(expected)")
        #expect(try rendered(lf.replacingOccurrences(of: "\n", with: "\r\n")) == expected)
    }

    /// On a long line (a recorded plan's JSON is one) the quoted part is around the column, and
    /// the caret under it.
    @Test func aLongLineIsQuotedAroundTheColumn() throws {
        let text = #"{"version": 1, "name": ""# + String(repeating: "a", count: 300) + #"", "bogus": 1, "stages": []}"#
        let error = try #require(throws: PlanError.self) {
            try PlanLoader(environment: [:]).load(bytes: Array(text.utf8), path: "plan.json")
        }
        let diagnostic = try #require(error.errors.first { $0.message.contains("bogus") })
        let lines = diagnostic.rendered().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let quoted = try #require(lines.dropFirst().first)
        let caret = try #require(lines.dropFirst(2).first)
        #expect(quoted.hasPrefix("    …") && quoted.contains("\"bogus\""), "\(quoted)")
        let at = try #require(quoted.firstRange(of: "\"bogus\""))
        #expect(caret.count == quoted.distance(from: quoted.startIndex, to: at.lowerBound) + 1, "\n\(quoted)\n\(caret)")
        #expect(caret.hasSuffix("^"))
    }

    /// When a stage's input has known fields (a query's SELECT list, a read-csv's columns, a
    /// transform's), a field a transform expression, a write-csv column or an apply's key_field
    /// or `from` reads that it lacks is an error at its place, with the nearest field.
    @Test func fieldsTheInputLacksAreLocated() {
        let plan = """
            version: 1
            name: w
            connections:
              db: { kind: postgres, url: "postgresql://127.0.0.1/db" }
            stages:
              - { name: src, kind: query, connection: db, sql: "SELECT id, ext AS ext_id FROM items" }
              - { name: t, kind: transform, fields: { rid: id, score: ext_id, code: "upper(ext)" } }
              - { name: out, kind: write-csv, path: o.csv, columns: [rid, scor] }
              - name: apply
                kind: apply
                connection: db
                table: items
                key: id
                key_field: ridd
                columns: { score: { from: scores }, rid: {} }
            """
        let found = errors(plan).map { "\($0.location?.line ?? 0):\($0.location?.column ?? 0) \($0.message)" }
        #expect(
            found == [
                "7:73 stage 't' reads field 'ext', which its input 'src' does not have (it has: id, ext_id)",
                "8:63 stage 'out' reads field 'scor', which its input 't' does not have (it has: rid, score, code)",
                "14:16 stage 'apply' reads field 'ridd', which its input 'out' does not have (it has: rid, score, code)",
                "15:31 stage 'apply' reads field 'scores', which its input 'out' does not have (it has: rid, score, code)",
            ], "\(found)")
        // Unknown input fields (a read-csv without `columns`) are not guessed at.
        let unknown = plan.replacingOccurrences(
            of: #"{ name: src, kind: query, connection: db, sql: "SELECT id, ext AS ext_id FROM items" }"#,
            with: "{ name: src, kind: read-csv, path: in.csv }"
        ).replacingOccurrences(
            of: #"{ name: t, kind: transform, fields: { rid: id, score: ext_id, code: "upper(ext)" } }"#,
            with: "{ kind: chunk, size: 5 }")
        #expect(errors(unknown).isEmpty, "\(errors(unknown).map(\.message))")
    }

    /// A connection whose own check fails still has its kind: a stage needing the other kind is
    /// told so as well, not left for the next check.
    @Test func aBrokenConnectionStillHasItsKind() {
        let plan = """
            version: 1
            name: k
            connections:
              api: { kind: http, base_url: "http://127.0.0.1:9", auth: { kind: bearer } }
            stages:
              - { kind: read-csv, path: in.csv }
              - kind: verify
                connection: api
                checks: [{ name: one, sql: "SELECT 1", expect: "== 1" }]
            """
        let found = errors(plan).map(\.message)
        #expect(found.contains { $0.contains("token") }, "\(found)")
        #expect(
            found.contains { $0.contains("stage 'verify' needs a postgres connection, but 'api' is http") }, "\(found)")
    }

    /// `sise: 50` is one mistake: an unknown key that looks like the missing `size`, not both.
    @Test func aMisspeltRequiredKeyIsOneError() {
        let found = errors(minimal.replacingOccurrences(of: "size: 50", with: "sise: 50"))
        #expect(found.map(\.message) == ["unknown key 'sise' in stage 'chunk'"])
        #expect(found.first?.notes.first == "did you mean 'size'?")
        // The key qualified by the stage's kind, as other tools spell it: the same mistake.
        let qualified = errors(minimal.replacingOccurrences(of: "size: 50", with: "chunk_size: 50"))
        #expect(qualified.map(\.message) == ["unknown key 'chunk_size' in stage 'chunk'"])
        #expect(qualified.first?.notes.first == "did you mean 'size'?")
        // The keys it could be are each listed once (the plan's top level checks two apart).
        let top = errors(minimal.replacingOccurrences(of: "name: demo", with: "name: demo\nstagez: []"))
        #expect(top.map(\.message) == ["unknown key 'stagez' in the plan"])
        #expect(top.first?.notes.last == "expected one of: version, name, description, connections, stages")
        // A key holding a character that shows as nothing is written with its code, not as the
        // key it reads as.
        for (written, shown) in [("si\u{200B}ze", "si\\u{200B}ze"), ("size\u{A0}", "size\\u{A0}")] {
            let invisible = errors(minimal.replacingOccurrences(of: "size: 50", with: "\(written): 50"))
            #expect(invisible.map(\.message) == ["unknown key '\(shown)' in stage 'chunk'"])
            #expect(invisible.first?.notes.first == "did you mean 'size'?")
        }
        // A misspelt 'connections' leaves every connection unknown: not also one error per stage.
        let connections = errors(minimal.replacingOccurrences(of: "connections:", with: "conections:"))
        #expect(connections.map(\.message) == ["unknown key 'conections' in the plan"])
        #expect(connections.first?.notes.first == "did you mean 'connections'?")
        // Without a key it looks like, the missing one is reported as such.
        let missing = errors(minimal.replacingOccurrences(of: "size: 50", with: "buffer: 2"))
        #expect(missing.count == 1 && missing[0].message.hasPrefix("stage 'chunk' is missing required key 'size'"))
    }

    /// A table named like the apply's temporary tables would be one of them in its transaction:
    /// refused unless named with its schema.
    @Test(arguments: [("sluice_apply_input", true), ("public.sluice_apply_input", false), ("sluice_applied", false)])
    func aTableNamedLikeTheApplysTemporaryTablesNeedsItsSchema(table: String, refused: Bool) {
        let plan = """
            version: 1
            name: t
            connections:
              db: { kind: postgres, url: "postgres://localhost/db" }
            stages:
              - { kind: query, connection: db, sql: "SELECT id, v FROM x" }
              - { kind: apply, connection: db, table: \(table), key: id, columns: { v: {} } }
            """
        let found = errors(plan)
        #expect(
            found.map(\.message).contains { $0.contains("has the name of a temporary table") } == refused, "\(found)")
        if refused {
            #expect(found.first?.location?.line == 7)
            #expect(found.first?.notes == ["name it with its schema: public.\(table)"])
        }
    }

    /// Every counter a verify check names is checked against what its stage records, wherever the
    /// expectation is; a check's own mistake hides none of the others'.
    @Test func verifyCountersAreCheckedWhateverElseIsWrong() {
        let plan = """
            version: 1
            name: v
            connections:
              db: { kind: postgres, url: "postgres://localhost/db" }
            stages:
              - { kind: query, connection: db, sql: "SELECT id, isrc FROM tracks" }
              - { kind: validate, rules: { isrc: { type: string } } }
              - kind: apply
                connection: db
                table: tracks
                key: id
                mode: upsert
                columns: { isrc: {} }
              - kind: verify
                connection: db
                checks:
                  - { sql: "SELECT 1", expect: "= 1" }
                  - { sql: "SELECT 1", expect: ">= {{ stages.apply.filled_isrc }} * 0.5" }
                  - { sql: "SELECT 1", expect: "== {{ stages.apply.inserted }}" }
                  - { sql: "SELECT 1", expect: "== {{ stages.validate.rejected_pattern }}" }
                  - { sql: "SELECT 1", expect: "== {{ stages.validate.rejected_patern }}" }
                  - { sql: "SELECT 1", expect: "== {{ stages.apply.filled_id }}" }
            """
        let found = errors(plan)
        #expect(
            found.map(\.message) == [
                "'expect' in item 1 of 'checks' in stage 'verify': expected a comparison (==, !=, >=, <=, >, <) first, e.g. '>= 3000'",
                "'expect' in item 5 of 'checks' in stage 'verify': stage 'validate' has no counter 'rejected_patern'",
                "'expect' in item 6 of 'checks' in stage 'verify': stage 'apply' has no counter 'filled_id'",
            ], "\(found)")
        #expect(found[1].notes.first == "did you mean 'rejected_pattern'?")
    }

    @Test func reportsEveryProblemNotJustTheFirst() {
        let yaml = minimal.replacingOccurrences(of: "size: 50", with: "size: 500")
            .replacingOccurrences(of: "delay: 0.33s", with: "delay: soon\n    retrys: 3")
        let found = errors(yaml)
        #expect(found.count == 3, "\(found)")
        #expect(found.map { $0.location!.line } == [11, 16, 17])
    }

    @Test func tenMegabyteFileIsRefusedBeforeParsing() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-\(UUID().uuidString)")
        let path = dir.appendingPathComponent("huge.yaml").path
        let line = "# " + String(repeating: "x", count: 1021) + "\n"
        // Written, loaded and removed off the cooperative pool: 10 MiB of disk.
        let loaded = try await BlockingIO.runOnOwnThread {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            try String(repeating: line, count: 10 * 1024).write(toFile: path, atomically: false, encoding: .utf8)
            return Result { () throws(PlanError) -> Plan in try PlanLoader(environment: [:]).load(path: path) }
        }
        guard case .failure(let error) = loaded else {
            Issue.record("a 10 MiB plan loaded")
            return
        }
        #expect(error.errors.first?.message.contains("file is 10.0 MiB; a plan may be at most 1.0 MiB") == true)
        #expect(error.errors.first?.location?.description == "\(path):1:1")
    }

    /// One byte over reads the same as the limit when rounded: then the message gives bytes.
    @Test func aFileJustOverTheLimitSaysSoInBytes() {
        let over = errors("# " + String(repeating: "x", count: (1 << 20) - 1))
        #expect(over.first?.message == "file is 1048577 bytes; a plan may be at most 1048576 bytes (1.0 MiB)")
        #expect(
            !errors("# " + String(repeating: "x", count: (1 << 20) - 2)).contains { $0.message.hasPrefix("file is") })
    }

    @Test func missingFileIsAClearError() async throws {
        let loaded = try await BlockingIO.runOnOwnThread {
            Result { () throws(PlanError) -> Plan in
                try PlanLoader(environment: [:]).load(path: "/nonexistent/plan.yaml")
            }
        }
        guard case .failure(let error) = loaded else {
            Issue.record("loaded a missing file")
            return
        }
        #expect(error.errors.first?.message == "cannot read plan /nonexistent/plan.yaml: no such file")
    }

    /// A path that names a device (or a pipe, as `<(...)` gives) is said to be one, not
    /// "permission denied".
    @Test func aDeviceIsNotAPlanFile() async throws {
        let loaded = try await BlockingIO.runOnOwnThread {
            Result { () throws(PlanError) -> Plan in try PlanLoader(environment: [:]).load(path: "/dev/null") }
        }
        guard case .failure(let error) = loaded else {
            Issue.record("loaded /dev/null")
            return
        }
        #expect(error.errors.first?.message == "cannot read plan /dev/null: it is a device, not a file")
    }
}

@Suite struct BlockScalarTests {
    /// A pattern written as a folded block scalar keeps its final line break and would match
    /// nothing: refused where it is written. `>-` is fine.
    @Test func aPatternEndingInALineBreakIsRefused() {
        let plan = """
            version: 1
            name: p
            connections:
              db: { kind: postgres, url: "postgresql://127.0.0.1:1/x" }
            stages:
              - { kind: query, connection: db, sql: "SELECT 1 AS id" }
              - kind: validate
                rules:
                  id:
                    pattern: STYLE
                      [0-9]+
              - { kind: write-csv, path: out.csv, columns: [id] }
            """
        let found = errors(plan.replacingOccurrences(of: "STYLE", with: ">"))
        #expect(
            found.map(\.description) == [
                "plan.yaml:10:18: error: 'pattern' in field 'id' ends with a line break, so it matches no value on one "
                    + "line (a YAML block scalar '>' or '|' keeps one: write '>-' or '|-', or quote the pattern)"
            ], "\(found)")
        #expect(errors(plan.replacingOccurrences(of: "STYLE", with: ">-")).isEmpty)
    }
}

@Suite struct HTTPURLTests {
    /// An API's URL without http(s) (`127.0.0.1:8080`, `htps://`, no host) is refused where it is
    /// written, instead of failing every request as if the API were down; one from a variable
    /// names the variable; an unset variable is said as unset, not as a bad URL.
    @Test func anAPIURLMustBeHTTPWithAHost() throws {
        for (value, problem) in [
            ("127.0.0.1:8080", "must start with http:// or https://"), ("htps://api.example.com", "must start with"),
            ("ftp://h/x", "must start with"), ("http:///v1", "has no host"), ("https://u:pw@/v1", "has no host"),
        ] {
            let found = errors(minimal, overrides: ["connections.api.base_url=\(value)"])
            #expect(found.count == 1, "\(value): \(found)")
            #expect(found.first?.description.contains("--set:1:26: error: base_url \(problem)") == true, "\(found)")
        }
        for value in [
            "http://127.0.0.1:9/v1", "HTTPS://api.example.com", "http://[::1]:8080/", "https://h/a@b",
            "http://my_service:8080/v1", "http://h:/v1", "https://bücher.example/v1", "https://h:65535",
        ] {
            #expect(errors(minimal, overrides: ["connections.api.base_url=\(value)"]).isEmpty, "\(value)")
        }
        // A URL no request could be sent to: refused at the character that says so, instead of
        // every request failing in the HTTP client's words.
        for (value, column, problem) in [
            ("\"http://exa mple.com/v1\"", 37, "has a space: a URL writes one as %20"),
            ("\"https://api.example.com/v 1\"", 52, "has a space"),
            ("http://[::1/v1", 33, "has an IPv6 host without its closing ']' (written like [::1]:8080)"),
            ("http://[fe80::1%eth0]/v1", 33, "has a host in [ ] that is not an IPv6 address"),
            ("http://[::1]x/v1", 38, "has more after its IPv6 host's ']', where only a port (:8080) may go"),
            ("http://api!.example.com", 36, "has '!' in its host name, which takes letters, digits, '-' and '.'"),
            ("http://host:99999/v1", 38, "has a port that is not a number from 1 to 65535"),
            ("https://api.example.com:abc/v1", 50, "has a port that is not"),
            ("http://h:0", 35, "has a port that is not"),
        ] {
            let found = errors(minimal, overrides: ["connections.api.base_url=\(value)"])
            #expect(found.count == 1, "\(value): \(found)")
            #expect(
                found.first?.description.contains("--set:1:\(column): error: base_url \(problem)") == true,
                "\(value): \(found)")
        }
        // A user (and password) before the host: no request sent it, and requests went without
        // any credential. Refused, with what does send one.
        for value in ["https://u:pw@h", "https://user@api.example.com/v1"] {
            let found = errors(minimal, overrides: ["connections.api.base_url=\(value)"])
            #expect(found.count == 1, "\(value): \(found)")
            #expect(
                found.first?.description.contains(
                    "--set:1:26: error: base_url holds a user name or password (https://USER:PASSWORD@host), which "
                        + "no request sends") == true, "\(found)")
            #expect(found.first?.notes.first?.contains("auth: { kind: basic, username: ") == true, "\(found)")
            #expect(found.first?.description.contains("pw") == false, "\(found)")
        }
        let fromVariable = minimal.replacingOccurrences(of: "http://127.0.0.1:9/v1", with: "${API_URL}")
        let bad = errors(fromVariable, env: ["API_URL": "localhost:8080"])
        #expect(
            bad.map(\.description) == [
                "plan.yaml:5:32: error: base_url must start with http:// or https:// (as ${API_URL} gives it)"
            ], "\(bad)")
        #expect(!errors(fromVariable).contains { $0.message.contains("must start with") })
        let token = errors(
            minimal,
            overrides: [
                "connections.api.auth={kind: oauth2-client-credentials, token_url: accounts.example.com/token, "
                    + "client_id: c, client_secret: \"${SECRET}\"}"
            ], )
        #expect(token.contains { $0.message == "token_url must start with http:// or https://" }, "\(token)")
    }

    /// Each request's path is added after the base_url: after a query (`/v1?key=K` + `/tracks`
    /// asked `/v1` with `key=K/tracks`) or a fragment, no request reaches the endpoint, and the run
    /// "succeeded" against the wrong one. Refused at the '?' or '#', with where parameters go;
    /// the key the variable gives is never shown.
    @Test(arguments: [
        // At the '?' or '#' the plan writes; at the `${` of the variable whose value holds it.
        ("http://127.0.0.1:9/v1?key=${API_KEY}", "query string", 5, 54),
        ("http://127.0.0.1:9/v1#top", "fragment", 5, 54), ("http://127.0.0.1:9/?a=1", "query string", 5, 52),
        ("${API_URL}", "query string", 5, 33),
    ])
    func aBaseURLWithAQueryOrFragmentIsRefused(value: String, what: String, line: Int, column: Int) throws {
        let yaml = minimal.replacingOccurrences(of: "http://127.0.0.1:9/v1", with: value)
        let env = ["API_KEY": "sekrit-key-4411", "API_URL": "https://h/v1?api_key=sekrit-key-4411"]
        let found = errors(yaml, env: env)
        let error = found.first { $0.message.hasPrefix("base_url has a \(what)") }
        #expect(error?.location?.line == line && error?.location?.column == column, "\(found)")
        #expect(error?.notes.first?.contains(what == "fragment" ? "never sent" : "under each fetch's 'query:'") == true)
        #expect(!found.map { $0.rendered() }.joined().contains("sekrit"), "\(found.map { $0.rendered() })")
        // Without the variable (check needs no credentials), the '?' written in the plan is still refused.
        if value.contains("?") { #expect(errors(yaml).contains { $0.message.hasPrefix("base_url has a") }) }
        #expect(errors(minimal, env: env).isEmpty)
    }
}

@Suite struct InterpolationTests {
    @Test func substitutesVariablesAndDefaults() throws {
        let yaml = minimal.replacingOccurrences(
            of: "path: /tracks", with: "path: \"${API_PATH}/x-${MISSING:-d}-$$-${EMPTY:-e}\"")
        let plan = try load(yaml, env: ["API_PATH": "/v2", "EMPTY": ""])
        #expect(plan.stage(named: "fetch")?.fetch?.path.text == "/v2/x-d-$-e")
    }

    @Test func missingVariableIsNamedWhereItIsUsed() {
        let yaml = minimal.replacingOccurrences(of: "path: /tracks", with: "path: \"/a/${NOT_SET_ANYWHERE}\"")
        let found = errors(yaml)
        #expect(found.count == 1)
        #expect(found.first?.message == "environment variable 'NOT_SET_ANYWHERE' is not set and has no default")
        #expect(found.first?.location?.line == 14)
        #expect(found.first?.location?.column == 15)  // the '$' inside the quotes
    }

    /// `check` without the run's environment (an unset variable is a warning) still checks the
    /// rest of an expression whose quoted text holds the variable, as when it is set: an unknown
    /// field or function is an error at its place. One whose variable is part of the expression
    /// itself (or names a field) is left for the run, which refuses the variable unset.
    @Test(arguments: [
        ("concat(id, '${SUFFIX}', nosuchfield)", "reads field 'nosuchfield'", 19, 10),
        ("concat(upperr(spotify_id), '${SUFFIX}')", "unknown function 'upperr'", 19, 18),
        ("concat('${A}-${B}', 'x''${C}', upperr(id))", "unknown function 'upperr'", 19, 42),
        ("date(id, '${FORMAT}')", nil, 0, 0), ("regex_extract(id, '${PATTERN}')", nil, 0, 0),
        ("['${FIELD}']", nil, 0, 0), ("${FIELD} + nosuchfield", nil, 0, 0),
        ("'${SUFFIX}' + 1", "'+' works on numbers, not text", 19, 23),
    ])
    func anExpressionWithAnUnsetVariableIsStillChecked(expression: String, error: String?, line: Int, column: Int) {
        let yaml = minimal + "  - kind: transform\n    fields:\n      v: \"\(expression)\"\n"
        var loader = PlanLoader(environment: [:])
        loader.unsetVariablesAreWarnings = true
        var found: [Diagnostic] = []
        do {
            let plan = try loader.load(bytes: Array(yaml.utf8), path: "plan.yaml")
            #expect(plan.warnings.allSatisfy { $0.message.contains("is not set: set it at run time") })
        } catch {
            found = error.errors
        }
        guard let error else {
            #expect(found.isEmpty, "\(found)")
            return
        }
        let match = found.first { $0.message.contains(error) }
        #expect(match?.location?.line == line && match?.location?.column == column, "\(found)")
        // The same error as with the variables set.
        let env = ["SUFFIX": "s", "A": "a", "B": "b", "C": "c"]
        #expect(errors(yaml, env: env).contains { $0.message.contains(error) })
    }

    /// `sluice check` knows the list functions: a call with the wrong number of arguments, and a
    /// quoted key path with an empty key, are errors where the plan writes them.
    @Test func listFunctionsAreCheckedWhereWritten() {
        let yaml =
            minimal
            + "  - kind: transform\n    fields:\n      n: pluck(response)\n      m: \"count(response, 'a..b')\"\n"
            + "      k: count(response, 'pull_request')\n"
        let found = errors(yaml).map { "\($0.location?.line ?? 0):\($0.location?.column ?? 0) \($0.message)" }
        #expect(
            found == [
                "19:10 output field 'n': pluck takes pluck(list, path), got 1 argument(s)",
                "20:29 output field 'm': count's path 'a..b' has an empty key between two dots: each dot separates two keys",
            ], "\(found)")
    }

    /// A character after a `${VAR}` is located where the plan writes it, whatever the value's
    /// length (which, for a secret, a column would tell): in a one-line scalar and in a block one,
    /// as the server's position into a query's SQL is located, and in an expression's error.
    @Test(arguments: ["x", "a-value-much-longer-than-its-name-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
    func aCharacterAfterAVariableIsLocatedWhereThePlanWritesIt(value: String) throws {
        func sql(_ written: String, env: [String: String]) throws -> (SluicePlan.SourceLocation, String) {
            let yaml = minimal.replacingOccurrences(of: "sql: SELECT id, spotify_id FROM tracks", with: written)
            let plan = try load(yaml, env: env)
            let stage = try #require(plan.stage(named: "query"))
            return (try #require(stage.parameterLocations["sql"]), try #require(stage.query?.sql))
        }
        for name in ["TBL", "DB_PASSPHRASE"] {
            let env = [name: value]
            let (flow, flowText) = try sql("sql: \"SELECT '${\(name)}$$' AS id, nosuchcol AS spotify_id\"", env: env)
            let offset = flowText.distance(
                from: flowText.startIndex, to: try #require(flowText.range(of: "nosuch")).lowerBound)
            // `    sql: "SELECT '${TBL}$$' AS id, ` is 35 characters (45 with DB_PASSPHRASE).
            #expect(flow.advanced(intoValueBy: offset).description == "plan.yaml:9:\(36 + name.count - 3)")
            // A character of the value is at its `${`.
            #expect(flow.advanced(intoValueBy: 8).description == "plan.yaml:9:19")
            let (block, blockText) = try sql(
                "sql: |\n      SELECT '${\(name)}' AS id,\n             nosuchcol AS spotify_id", env: env)
            let inBlock = blockText.distance(
                from: blockText.startIndex, to: try #require(blockText.range(of: "nosuch")).lowerBound)
            #expect(block.advanced(intoValueBy: inBlock).description == "plan.yaml:11:14")
        }
        let yaml = minimal + "  - kind: transform\n    fields:\n      v: concat('${SUFFIX}', upperr(spotify_id))\n"
        let found = errors(yaml, env: ["SUFFIX": value])
        let unknown = try #require(found.first { $0.message.contains("unknown function 'upperr'") }, "\(found)")
        #expect(unknown.location?.description == "plan.yaml:19:30")
    }

    @Test func emptyVariableWithoutDefaultIsAnError() {
        let found = errors(
            minimal.replacingOccurrences(of: "path: /tracks", with: "path: ${BLANK}"), env: ["BLANK": ""])
        #expect(found.first?.message == "environment variable 'BLANK' is empty and has no default")
    }

    @Test func invalidReferenceIsReported() {
        let found = errors(minimal.replacingOccurrences(of: "path: /tracks", with: "path: ${1BAD}"))
        #expect(found.first?.message == "'${1BAD}' is not a valid variable reference")
    }

    @Test(arguments: [
        ("SPOTIFY_CLIENT_SECRET", true), ("DB_PASSWORD", true), ("API_TOKEN", true), ("GITHUB_API_KEY", true),
        ("GEOCODER_KEY", true), ("maps_key", true), ("GEO_PWD", true), ("GEO_AUTH", true), ("HMAC_SIG", true),
        ("SPOTIFY_CLIENT_ID", false), ("SPOTIFY_API_URL", false), ("HOME", false), ("KEYBOARD_LAYOUT", false),
        ("AUTHOR_NAME", false), ("MAPS_KEY_ID", false),
    ])
    func secretNamesAreRecognised(name: String, secret: Bool) {
        #expect(Redaction.isSecretName(name) == secret)
    }

    @Test func secretsNeverReachTheResolvedPlan() async throws {
        let path = repositoryRoot.appendingPathComponent("plans/spotify-enrichment.yaml").path
        let plan = try await BlockingIO.runOnOwnThread {
            try PlanLoader(environment: spotifyEnvironment).load(path: path)
        }
        let text =
            plan.resolved.jsonText() + JSON.encode(plan.resolved.value)
            + plan.stages.map { JSON.encode($0.redactedParameters.value) }.joined()
        #expect(!text.contains("client-secret-xyz"))
        #expect(!text.contains("db-pass-123"))
        #expect(text.contains("${SPOTIFY_CLIENT_SECRET}"))
        #expect(text.contains("${DATABASE_URL}"))
        // Non-secret values are kept as they were resolved.
        #expect(text.contains("https://api.spotify.com/v1"))
        #expect(plan.connection(named: "db")?.postgres?.url.description == "***")
        #expect(
            plan.connection(named: "db")?.postgres?.url.redacted == "postgresql://enricher:***@127.0.0.1:5432/music")
    }

    /// `minimal` with a client secret written into the file.
    static let inlineSecret = minimal.replacingOccurrences(
        of: "api: { kind: http, base_url: \"http://127.0.0.1:9/v1\" }",
        with: """
            api:
                kind: http
                base_url: http://127.0.0.1:9/v1
                auth: { kind: oauth2-client-credentials, token_url: http://t, client_id: a, client_secret: literal-s3cret }
            """)

    @Test func literalSecretInFileIsWarnedAboutAndRedacted() throws {
        let yaml = Self.inlineSecret
        let plan = try load(yaml)
        #expect(plan.warnings.count == 1)
        #expect(plan.warnings.first?.message.contains("client_secret is written in the plan file") == true)
        // The variable it suggests is named after the connection, not after one API.
        #expect(plan.warnings.first?.notes == ["write \"${API_CLIENT_SECRET}\" in the plan and set the variable"])
        #expect(!plan.resolved.jsonText().contains("literal-s3cret"))
    }

    /// A secret written as a variable's default (`${VAR:-secret}`) is in the plan file as much
    /// as one written inline: warned about when it stands in for the variable, hidden from the
    /// resolved plan (which keeps the `${VAR}`), and masked wherever it may show. It was kept in
    /// clear in every manifest, and no warning said so.
    @Test func aSecretWrittenAsADefaultIsWarnedAboutAndRedacted() throws {
        let yaml = minimal.replacingOccurrences(
            of: "api: { kind: http, base_url: \"http://127.0.0.1:9/v1\" }",
            with: """
                api:
                    kind: http
                    base_url: http://127.0.0.1:9/v1
                    auth: { kind: bearer, token: "${API_TOKEN_X:-default-t0ken-xyz}" }
                """
        ).replacingOccurrences(
            of: "url: \"${DB_URL:-postgres://localhost/db}\"",
            with: "url: \"${DB_URL_X:-postgresql://u:default-pw-123@h/db}\"")
        try #require(yaml.contains("default-pw-123"))
        let plan = try load(yaml, env: [:])
        #expect(
            plan.warnings.map(\.message) == [
                "the url's password is the default written in the plan file for ${DB_URL_X}, which is not set; "
                    + "anyone who can read the file can use it",
                "token is the default written in the plan file for ${API_TOKEN_X}, which is not set; anyone who "
                    + "can read the file can use it",
            ], "\(plan.warnings)")
        let recorded = plan.resolved.jsonText()
        #expect(!recorded.contains("default-t0ken-xyz") && !recorded.contains("default-pw-123"), "\(recorded)")
        #expect(recorded.contains("${API_TOKEN_X:-***}"), "\(recorded)")
        #expect(recorded.contains("${DB_URL_X:-postgresql://u:***@h/db}"), "\(recorded)")
        #expect(Set(plan.secretTexts).isSuperset(of: ["default-t0ken-xyz", "default-pw-123"]))

        // Set, the variables stand for themselves: nothing of the file is used, nothing warned.
        let set = try load(yaml, env: ["API_TOKEN_X": "t", "DB_URL_X": "postgresql://u@h/db"])
        #expect(set.warnings.isEmpty, "\(set.warnings)")
    }

    /// The manifest keeps the plan as JSON, whose objects are sorted: ``PlanValue/keyOrder``
    /// records every mapping written in another order (keys holding `/` and `~` included), and
    /// the plan built back from both is the plan as written.
    @Test func theRecordedPlanKeepsEveryMappingInItsWrittenOrder() throws {
        let plan = try load(
            """
            version: 1
            name: order
            connections:
              api: { kind: http, base_url: "http://127.0.0.1:9", headers: { X-B: "1", "A/~z": "2" } }
            stages:
              - { kind: read-csv, path: in.csv }
              - { kind: fetch, connection: api, path: "/x/{id}", query: { zz: "1", aa: "{id}" } }
              - { kind: transform, fields: { zeta: response.z, alpha: response.a, id: id } }
              - { kind: write-csv, path: out.csv, columns: [zeta, alpha, id] }
            """)
        let order = plan.resolved.keyOrder
        #expect(order["/stages/2/fields"] == ["zeta", "alpha", "id"], "\(order)")
        #expect(order["/stages/1/query"] == ["zz", "aa"])
        #expect(order["/connections/api/headers"] == ["X-B", "A/~z"])
        let rebuilt = PlanValue(plan.resolved.value, keyOrder: order)
        #expect(rebuilt == plan.resolved)
        #expect(rebuilt.jsonText() == plan.resolved.jsonText())
        // A manifest written before the order was recorded: sorted, as it always was.
        #expect(
            PlanValue(plan.resolved.value, keyOrder: [:])["stages"]?.items[2]["fields"]?.entries.map(\.key) == [
                "alpha", "id", "zeta",
            ])
    }

    /// A plan's name or description, a stage's name or a write-csv path made of a secret
    /// variable's value is refused: it would be printed, listed and written into file names
    /// (`name: "plan-${API_TOKEN}"` showed the token in `check`, `sluice runs` and the manifest).
    @Test func aNameMadeOfASecretIsRefused() throws {
        let yaml = """
            version: 1
            name: "plan-${API_TOKEN}"
            description: "from ${REGION}"
            stages:
              - { name: "read-${DB_PASSWORD}", kind: read-csv, path: in.csv }
              - { kind: write-csv, path: "out-${API_TOKEN}.csv", columns: [id] }
            """
        let env = ["API_TOKEN": "t0ken-value-1", "DB_PASSWORD": "pw-value-2", "REGION": "eu"]
        let error = try #require(throws: PlanError.self) { try load(yaml, env: env) }
        let refused = error.diagnostics.filter { $0.message.contains("takes a secret variable's value") }
        #expect(
            refused.map { "\($0.location?.line ?? 0):\($0.location?.column ?? 0)" } == ["2:7", "5:13", "6:30"],
            "\(error.diagnostics)")
        #expect(
            refused.first?.message.hasPrefix("the plan's name takes a secret variable's value (plan-${API_TOKEN})")
                == true)
        #expect(!error.diagnostics.map { $0.rendered() }.joined().contains("value-"))
    }

    /// A secret variable's value where it becomes each row's data (a transform's field, a fetch's
    /// id, a validate rule quoted in the rejects, a write-csv column) is refused, naming the
    /// variable and never its value; in a connection's url, headers and auth it is used as before,
    /// and in a query's SQL it is left to the run (a `WHERE` clause keeps it in the database).
    @Test func aSecretVariableInRowDataIsRefused() throws {
        let yaml = """
            version: 1
            name: plan
            connections:
              db: { kind: postgres, url: "${DATABASE_URL}" }
              api: { kind: http, base_url: "http://127.0.0.1:9/v1", headers: { X-Api-Key: "${VENDOR_KEY}" } }
            stages:
              - { kind: query, connection: db, sql: "SELECT id, sku FROM t WHERE owner = '${API_TOKEN}'" }
              - { kind: fetch, connection: api, path: /items, id: "concat(sku, '${API_TOKEN}')" }
              - kind: transform
                keep_input: true
                fields: { tag: "concat('${VENDOR_KEY}', 'x')", region: "'${REGION}'" }
              - { kind: validate, rules: { tag: { one_of: [a, "${DB_PASSWORD:-pw-default-9}"] } } }
              - { kind: write-csv, path: out.csv, columns: [id, "${API_TOKEN}"] }
            """
        let env = [
            "DATABASE_URL": "postgresql://u:pw-value-0@h/db", "VENDOR_KEY": "vendor-value-1",
            "API_TOKEN": "t0ken-value-2", "REGION": "eu",
        ]
        let error = try #require(throws: PlanError.self) { try load(yaml, env: env) }
        let refused = error.diagnostics.filter { $0.message.contains(", a secret: ") }
        #expect(
            refused.map { "\($0.location?.line ?? 0):\($0.location?.column ?? 0)" } == [
                "8:55", "11:20", "12:51", "13:53",
            ], "\(error.diagnostics)")
        #expect(
            refused.dropFirst().first?.message
                == "transform 'transform' field 'tag' takes the value of ${VENDOR_KEY}, a secret: each row's value "
                + "would be written to the run's files (spools, CSVs, the review) as data, and an apply would write "
                + "it to the table")
        #expect(refused.map(\.message).contains { $0.hasPrefix("fetch 'fetch' id takes the value of ${API_TOKEN}") })
        #expect(
            refused.map(\.message).contains {
                $0.hasPrefix("validate 'validate' rule tag.one_of[1] takes the value of ${DB_PASSWORD}")
            })
        #expect(
            refused.map(\.message).contains {
                $0.hasPrefix("write-csv 'write-csv' column takes the value of ${API_TOKEN}")
            })
        // The url, the header and the query's WHERE clause are used as before.
        #expect(!error.diagnostics.contains { ($0.location?.line ?? 0) < 8 }, "\(error.diagnostics)")
        #expect(!error.diagnostics.map { $0.rendered() }.joined().contains("value-"))
        #expect(!error.diagnostics.map { $0.rendered() }.joined().contains("pw-default"))
    }

    /// A credential written into a header whose name says so is warned about like one in auth;
    /// another header (a version) is not.
    @Test func aLiteralCredentialInAHeaderIsWarnedAbout() throws {
        let yaml = minimal.replacingOccurrences(
            of: "api: { kind: http, base_url: \"http://127.0.0.1:9/v1\" }",
            with: """
                my-api:
                    kind: http
                    base_url: http://127.0.0.1:9/v1
                    headers: { X-Api-Key: hdr-s3cret-77, Accept-Version: v1, Authorization: "Bearer ${TOKEN}" }
                """
        ).replacingOccurrences(of: "connection: api", with: "connection: my-api")
        let plan = try load(yaml, env: ["TOKEN": "from-env"])
        #expect(
            plan.warnings.map(\.message) == [
                "header X-Api-Key is written in the plan file; anyone who can read the file can use it"
            ], "\(plan.warnings)")
        #expect(plan.warnings.first?.notes == ["write \"${MY_API_X_API_KEY}\" in the plan and set the variable"])
    }

    /// An apply stage's `key` on a line of its own is its key column, named in an error about
    /// it; an auth block's `key`, on its own line too, stays masked.
    @Test func anApplyKeyOnItsOwnLineIsNoSecret() throws {
        let yaml = """
            version: 1
            name: keys
            connections:
              db: { kind: postgres, url: "postgres://localhost/db" }
              api:
                kind: http
                base_url: http://127.0.0.1:9
                auth:
                  kind: api-key
                  header: X-Key
                  key: s3cr3t-value-xyz
            stages:
              - kind: query
                connection: db
                sql: SELECT id FROM books
              - kind: apply
                connection: db
                table: books
                key: isbnn
                columns:
                  title: {}
            """
        var all: [Diagnostic] = []
        do { _ = try load(yaml) } catch { all = error.diagnostics }
        let error = try #require(all.first { $0.message.contains("isbn") }, "\(all)")
        #expect(error.rendered().contains("reads field 'isbnn'"), "\(error.rendered())")
        #expect(error.rendered().contains("key: isbnn"), "\(error.rendered())")
        let warning = try #require(all.first { $0.severity == .warning }, "\(all)")
        #expect(warning.rendered().contains("key: ****************"), "\(warning.rendered())")
    }

    /// A diagnostic quotes its source line; a secret on that line shows as `*`s (the caret stays
    /// under the right column), and so does a secret value quoted in a message.
    /// Inside `auth` or `headers`, a value is a credential whatever its key: a mistyped `tokn`, a
    /// header named `X-Custom-Auth` given as a list. The lines such errors quote hide it.
    @Test(arguments: [
        ("api:\n    kind: http\n    auth:\n      kind: bearer\n      tokn: BEARtok-secret-1", "tokn"),
        ("api: { kind: http, auth: { kind: bearer, tokn: BEARtok-secret-1 } }", "tokn"),
        ("api:\n    kind: http\n    headers:\n      X-Custom-Auth: [BEARtok-secret-1]", "X-Custom-Auth"),
    ])
    func aCredentialUnderAnyKeyIsNeverQuoted(connection: String, key: String) throws {
        let yaml = minimal.replacingOccurrences(
            of: #"api: { kind: http, base_url: "http://127.0.0.1:9/v1" }"#, with: connection)
        let found = errors(yaml)
        let error = try #require(found.first { $0.message.contains(key) }, "\(found.map(\.message))")
        #expect(!error.rendered().contains("BEARtok-secret-1"), "\(error.rendered())")
    }

    /// What only looks secret is shown: an unclosed `${` in a URL (the mistake reported), a key
    /// like `items_key` (a setting, whatever its `_key`).
    @Test func aMistakeThatHoldsNoSecretIsShownAsWritten() throws {
        let unclosed = minimal.replacingOccurrences(
            of: #"url: "${DB_URL:-postgres://localhost/db}""#, with: #"url: "${DB_URL""#)
        let open = try #require(errors(unclosed).first)
        #expect(open.rendered().contains(#"url: "${DB_URL" }"#), "\(open.rendered())")
        let twice = minimal.replacingOccurrences(
            of: "delay: 0.33s", with: "delay: 0.33s\n    items_key: tracks\n    items_key: other")
        let duplicate = try #require(errors(twice).first { $0.message.contains("duplicate key") })
        #expect(duplicate.rendered().contains("items_key: other"), "\(duplicate.rendered())")
    }

    @Test func diagnosticsNeverQuoteASecret() throws {
        let yaml = Self.inlineSecret
        let warning = try #require(try load(yaml).warnings.first)
        let shown = warning.rendered() + warning.rendered(color: true) + warning.description
        #expect(!shown.contains("literal-s3cret"))
        #expect(shown.contains("client_secret: ************** }\n"), "\(shown)")
        let caretLine = try #require(warning.rendered().split(separator: "\n").dropFirst(2).first)
        let quoted = try #require(warning.rendered().split(separator: "\n").dropFirst().first)
        #expect(quoted.dropFirst(caretLine.count - 1).hasPrefix("**************"))

        // An error on the line of a URL with a password.
        let urlLine = minimal.replacingOccurrences(
            of: "db: { kind: postgres, url: \"${DB_URL:-postgres://localhost/db}\" }",
            with: "db: { kind: postgres, url: \"postgres://u:pw-777@h/db\", connect_timeout: soon }")
        let error = try #require(errors(urlLine).first)
        #expect(error.message.contains("connect_timeout"))
        #expect(!error.rendered().contains("pw-777"))
        #expect(error.rendered().contains("postgres://u:******@h/db"))

        // A YAML syntax error, raised before anything is known to be secret: a line that looks
        // secret is masked all the same, a token URL is not.
        let broken = Self.inlineSecret.replacingOccurrences(
            of: "client_secret: literal-s3cret }", with: "client_secret: literal-s3cret }}")
        let syntax = try #require(errors(broken).first)
        #expect(syntax.message.hasPrefix("YAML syntax error"))
        #expect(!syntax.rendered().contains("literal-s3cret"), "\(syntax.rendered())")
        #expect(syntax.rendered().contains("token_url: http://t"), "\(syntax.rendered())")
        let badURL = try #require(errors(minimal, overrides: ["connections.db.url=\"postgres://u:pw-777@h/db"]).first)
        #expect(!badURL.rendered().contains("pw-777"), "\(badURL.rendered())")

        // A secret variable's value quoted by a type error.
        let typed = try #require(
            errors(minimal, env: ["API_TOKEN": "tok-123"], overrides: ["fetch.concurrency=${API_TOKEN}"]).first)
        #expect(typed.message.contains("must be an integer"))
        #expect(!typed.rendered().contains("tok-123") && typed.rendered().contains("*******"), "\(typed.rendered())")

        // A short secret is masked where it stands alone, not inside other words; one under 4
        // characters (a header's `v1`) not at all.
        let short = Diagnostic.error("'tok_prefix' applies to batch requests; token tok1, id {tok1_id} v1", at: nil)
            .hiding(["tok1", "v1"])
        #expect(short.rendered() == "error: 'tok_prefix' applies to batch requests; token ****, id {tok1_id} v1")
    }

    /// In colour, a diagnostic's own codes are the only escapes it writes: a value it quotes (an
    /// environment variable's, given with `--set`) shows its escape sequence as codes.
    @Test func aColouredDiagnosticShowsTheEscapesItQuotesAsCodes() {
        let diagnostic = Diagnostic.error(
            "'5\u{1B}[2J' must be an integer", at: nil, notes: ["it came from \u{1B}]0;title\u{07}"])
        let rendered = diagnostic.rendered(color: true)
        let ours = ["\u{1B}[1;31m", "\u{1B}[1m", "\u{1B}[0m"].reduce(rendered) {
            $0.replacingOccurrences(of: $1, with: "")
        }
        #expect(
            ours == #"error: '5\u{1B}[2J' must be an integer"# + "\n    note: " + #"it came from \u{1B}]0;title\u{7}"#,
            "\(rendered)")
    }

    @Test(arguments: [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("host=h password=pw dbname=d", "host=h password=*** dbname=d"),
        ("host=h password='p w' dbname=d", "host=h password='***' dbname=d"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("opaque-token", "***"),
    ])
    func redactionMasksPasswords(input: String, expected: String) {
        #expect(Redaction.redact(input) == expected)
    }
}

@Suite struct OverrideTests {
    @Test func overridesAreTypedLikeTheFile() throws {
        let plan = try load(
            minimal,
            overrides: [
                "chunk.size=20", "fetch.delay=0.5s", "fetch.concurrency=4",
                "fetch.query.market=SE", "query.sql=SELECT 1 AS spotify_id",
            ])
        #expect(plan.stage(named: "chunk")?.chunk?.size == 20)
        #expect(plan.stage(named: "fetch")?.fetch?.delay == 0.5)
        #expect(plan.stage(named: "fetch")?.fetch?.concurrency == 4)
        #expect(plan.stage(named: "fetch")?.fetch?.query.first?.1.text == "SE")
        #expect(plan.stage(named: "query")?.query?.sql == "SELECT 1 AS spotify_id")
        #expect(plan.overrides.count == 5)
    }

    /// A misspelt key is shown where it is in the argument, past `STAGE.` (the caret was on the
    /// stage's name); a misspelt stage is shown at the start.
    @Test func aMisspeltKeyInAnOverrideIsPointedAt() {
        let key = errors(minimal, overrides: ["fetch.dealy=1s"])
        #expect(key.first?.message == "unknown key 'dealy' in stage 'fetch'", "\(key)")
        #expect(key.first?.location?.description == "--set:1:7")
        let nested = errors(minimal, overrides: ["connections.api.base_ulr=http://127.0.0.1:9/v2"])
        #expect(nested.first?.location?.description == "--set:1:17", "\(nested)")
        let stage = errors(minimal, overrides: ["fecth.delay=1s"])
        #expect(stage.first?.location?.description == "--set:1:1", "\(stage)")
    }

    @Test func overrideErrorsPointIntoTheArgument() {
        let found = errors(minimal, overrides: ["chunk.size=abc"])
        #expect(found.count == 1)
        #expect(found.first?.location?.description == "--set:1:12")
        #expect(found.first?.message == "'size' in stage 'chunk' must be an integer (1…1000000), found 'abc'")
        #expect(found.first?.rendered().contains("chunk.size=abc\n               ^") == true)
    }

    /// `|` and `>` start a YAML block scalar, empty on one line: said so, with the quoting that
    /// gives the character; a value YAML cannot read as text gets the same advice.
    @Test func overrideOfAYAMLIndicatorSaysToQuoteIt() throws {
        let bar = errors(minimal, overrides: ["chunk.size=20", "fetch.id_separator=|"])
        #expect(bar.map(\.message) == ["'|' is an empty YAML block scalar"])
        #expect(bar.first?.location?.description == "--set:2:20")
        #expect(
            bar.first?.notes == [
                #"a value starting with '|' is read as YAML syntax, not text; to give it as text (a pattern, a separator), quote it: --set 'fetch.id_separator="|"'"#
            ])
        let at = errors(minimal, overrides: ["fetch.id_prefix=@x"])
        #expect(at.first?.notes.last?.contains(#"quote it: --set 'fetch.id_prefix="@x"'"#) == true, "\(at)")
        // An anchor or a tag alone marks an empty node: an error, not a silent null.
        for (value, what) in [("&x", "a YAML anchor"), ("!x", "a YAML tag")] {
            let marked = errors(minimal, overrides: ["fetch.id_prefix=\(value)"])
            #expect(marked.map(\.message) == ["'\(value)' is \(what) with no value, not text"])
            #expect(marked.first?.location?.description == "--set:1:17")
            #expect(marked.first?.notes.last?.contains(#"quote it: --set 'fetch.id_prefix="\#(value)"'"#) == true)
        }
        #expect(
            try load(minimal, overrides: ["fetch.id_prefix=&x abc"]).stage(named: "fetch")?.fetch?.idPrefix == "abc")
        #expect(
            try load(minimal, overrides: [#"fetch.id_separator="|""#]).stage(named: "fetch")?.fetch?.idSeparator == "|")
    }

    /// A secret given with `--set` that YAML cannot read (a token starting with `[`) is not
    /// repeated by the note that says to quote it, and the error is at the end of that `--set`,
    /// not on a second line it does not have.
    @Test func aSecretOverrideYAMLCannotReadIsNeverRepeated() {
        let set = "connections.api.auth.token=[tok-secret-123"
        let found = errors(minimal, overrides: ["chunk.size=20", set])
        let said = found.map { "\($0.rendered(color: false)) \($0.notes)" }.joined(separator: "\n")
        #expect(!said.contains("tok-secret-123"), "\(said)")
        #expect(said.contains(#"quote it: --set 'connections.api.auth.token="..."'"#), "\(said)")
        #expect(found.first?.location?.description == "--set:2:\(set.count + 1)", "\(said)")
    }

    @Test func overrideIsCheckedAgainstOtherStages() {
        let found = errors(minimal, overrides: ["chunk.size=51"])
        #expect(found.first?.message.contains("chunk size 51 is more than the 50 ids") == true)
    }

    @Test func unknownStageOrParameterSuggestsTheNearest() {
        let stage = errors(minimal, overrides: ["chnk.size=10"])
        #expect(stage.first?.message == "--set names stage 'chnk', but the plan has no stage of that name")
        #expect(stage.first?.notes.first == "did you mean 'chunk'?")
        let param = errors(minimal, overrides: ["fetch.dealy=1s"])
        #expect(param.first?.message == "unknown key 'dealy' in stage 'fetch'")
        #expect(param.first?.notes.first == "did you mean 'delay'?")
    }

    @Test func malformedOverride() {
        #expect(errors(minimal, overrides: ["chunk"]).first?.message == "expected STAGE.PARAM=VALUE, found 'chunk'")
        #expect(
            errors(minimal, overrides: ["chunk.size"]).first?.message
                == "expected STAGE.PARAM=VALUE, found 'chunk.size'")
        #expect(errors(minimal, overrides: ["chunk.name=x"]).first?.message == "--set cannot change a stage's name")
        // One item of a list has no path: the list is given whole, which the error shows how to do.
        let item = errors(
            minimal + "  - kind: verify\n    connection: db\n    checks: [{sql: SELECT 1, expect: '== 1'}]\n",
            overrides: ["verify.checks[0].expect='>= 2'"])
        #expect(
            item.map(\.message) == ["--set cannot change one item of a list ('checks[0]'): it replaces 'checks' whole"])
        #expect(item.first?.notes == ["for example: --set 'verify.checks=[{...}, {...}]', every item written out"])
    }

    /// A connection's kind changed with `--set`: the plan's keys that no longer fit fail at their
    /// lines in the file, and each error says the kind came from the `--set`.
    @Test func errorsThatFollowFromAKindGivenWithSetSaySo() {
        let found = errors(minimal, overrides: ["connections.db.kind=http"])
        let fromSet = "connection 'db' has kind http from --set:1:21"
        #expect(found.count == 3, "\(found)")
        #expect(found.contains { $0.message == "connection 'db' is missing required key 'base_url' (string)" })
        #expect(found.contains { $0.message == "unknown key 'url' in connection 'db'" })
        #expect(found.contains { $0.message == "stage 'query' needs a postgres connection, but 'db' is http" })
        for error in found {
            #expect(error.notes.last == fromSet, "\(error)")
            #expect(error.location?.source.name != "--set", "located in the plan: \(error)")
        }
        // Given in the file, the kind needs no such note.
        let inFile = errors(minimal.replacingOccurrences(of: "kind: postgres", with: "kind: http"))
        #expect(!inFile.isEmpty && inFile.allSatisfy { !$0.notes.contains { $0.contains("--set") } }, "\(inFile)")
    }

    /// `--set stages=[]` is told the stages are the plan file's to change, not offered
    /// `--set stages.size=20`; a stage's name alone is asked for one of its parameters.
    @Test func aSetOfTheStagesOrOfAStageWholeSaysWhatItNeeds() {
        let stages = errors(minimal, overrides: ["stages=[]"])
        #expect(
            stages.map(\.message) == [
                "--set cannot replace the plan's stages: it sets one parameter of one stage, --set STAGE.PARAM=VALUE"
            ])
        #expect(
            stages.first?.notes == ["add, remove or reorder stages in the plan file", "stages: query, chunk, fetch"])
        let stage = errors(minimal, overrides: ["fetch=1"])
        #expect(stage.map(\.message) == ["expected STAGE.PARAM=VALUE, found 'fetch=1'"])
        #expect(stage.first?.notes == ["name one of its parameters: --set fetch.PARAM=VALUE"])
    }

    /// `--set version=2` is told which top-level keys --set takes (`name=` is one), not that
    /// it wants STAGE.PARAM.
    @Test func aSetOfAKeyThatIsNoStageSaysWhatSetTakes() {
        let found = errors(minimal, overrides: ["version=2"])
        #expect(
            found.map(\.message) == [
                "--set cannot set 'version': it takes STAGE.PARAM=VALUE, connections.NAME.KEY=VALUE, name=VALUE or "
                    + "description=VALUE"
            ])
        #expect(found.first?.notes.last == "stages: query, chunk, fetch")
    }

    /// `{{ stages.NAME.COUNTER }}` is filled in only in a verify check's `expect`: in a query's
    /// or a check's SQL, which the server would get as written, it is an error at the braces.
    @Test func aStageCounterInSQLIsRefusedWhereItIsWritten() {
        let plan =
            minimal.replacingOccurrences(
                of: "sql: SELECT id, spotify_id FROM tracks",
                with: "sql: \"SELECT id, spotify_id FROM tracks LIMIT {{ stages.fetch.rows_out }}\"")
                + """
                  - kind: verify
                    connection: db
                    checks:
                      - sql: |
                          SELECT '{{x}}' AS x, count(*) - {{stages.fetch.rows_out}} AS n FROM tracks
                        expect: { n: "== 0", x: "== 0" }

                """
        let found = errors(plan).map { "\($0.location?.line ?? 0):\($0.location?.column ?? 0) \($0.message)" }
        let said = ", which is sent to the server as written: only a verify check's 'expect' fills in a stage's counter"
        #expect(
            found == [
                "9:51 'sql' in stage 'query' holds '{{ stages.… }}'" + said,
                "21:43 'sql' in item 1 of 'checks' in stage 'verify' holds '{{ stages.… }}'" + said,
            ], "\(found)")
    }

    /// A stage before the last whose rows no stage reads (a later `input:` skips it, or a
    /// second source follows it) is warned of at the stage; a sink's and the last stage's are not.
    @Test func aStageWhoseRowsNothingReadsIsWarnedOf() throws {
        let skipped = minimal.replacingOccurrences(
            of: "  - kind: fetch\n    connection: api", with: "  - kind: fetch\n    input: query\n    connection: api")
        let warnings = try load(skipped).warnings.map { String($0.rendered().prefix { $0 != "\n" }) }
        #expect(
            warnings == [
                "plan.yaml:10:5: warning: nothing reads the rows of stage 'chunk': stage 'fetch' after it reads "
                    + "'query', so they go nowhere"
            ], "\(warnings)")
        let sinks =
            minimal + """
                  - { kind: write-csv, path: out.csv, columns: [id] }
                  - { kind: query, name: again, connection: db, sql: SELECT 1 AS id }

                """
        #expect(try load(sinks).warnings.map(\.message) == [])
        #expect(try load(minimal).warnings.map(\.message) == [])
    }

    /// A syntax error after a quote that opens a value and is not closed on its line, the next
    /// line reading as the next key or item, names that quote (libyaml reports only where the
    /// value ends, at a later quote); a value that goes on, indented, an apostrophe in a plain
    /// value, a `#` comment's quote, a block scalar's text or a quote closed on its line are not
    /// taken for one.
    @Test(
        arguments: [
            ("    sql: \"SELECT 1\n  - kind: chunk\n    size: 5\n    x: \"y\" z\n", "8:10"),
            ("    sql: 'it''s\n  - kind: chunk\n    size: 5\n    x: 'y' z\n", "8:10"),
            ("    sql: [\"a\", \"b\n  - kind: chunk\n    x: \"y\" z\n", "8:16"),
            ("    sql: \"SELECT 1\n      FROM t\"\n  - kind: chunk\n    x: \"y\" z\n", nil),
            ("    sql: SELECT 'it's\n  - kind: chunk\n    x: \"y\" z\n", nil),
            ("    sql: SELECT 1 # it's \"\n  - kind: chunk\n    x: \"y\" z\n", nil),
            ("    sql: \"SELECT 1\"\n  - kind: chunk\n    x: \"y\" z\n", nil),
            ("    sql: rock-'n\n  - kind: chunk\n    x: \"y\" z\n", nil),
            ("    sql: |\n      'SELECT 1\n  - kind: chunk\n    x: \"y\" z\n", nil),
            ("    sql: >-\n      \"SELECT 1\n    x: \"z\n  - kind: chunk\n    x: \"y\" z\n", "10:8"),
        ] as [(String, String?)])
    func anUnclosedQuoteIsNamedAtTheSyntaxErrorItCauses(stage: String, quoted: String?) {
        let yaml =
            "version: 1\nname: demo\nconnections:\n  db: { kind: postgres, url: \"postgres://h/db\" }\nstages:\n"
            + "  - kind: query\n    connection: db\n" + stage
        let found = errors(yaml)
        #expect(found.count == 1 && found.first?.message.hasPrefix("YAML syntax error") == true, "\(found)")
        let named = found.first?.notes.first { $0.hasPrefix("the value quoted at") }
        if let quoted {
            let (line, column) = (quoted.split(separator: ":")[0], quoted.split(separator: ":")[1])
            #expect(
                named?.hasPrefix("the value quoted at line \(line), column \(column) is not closed on its line") == true
            )
        } else {
            #expect(named == nil, "\(named ?? "")")
        }
    }

    /// `sluice check`'s summary says how rows flow: a straight plan as one line, a plan whose
    /// stages branch (two stages reading one, a second source) as one line per branch.
    @Test func theSummarySaysWhereStagesBranch() throws {
        #expect(try load(minimal).summary == "plan 'demo': 3 stages (query → chunk → fetch), 2 connections")
        let branching =
            minimal + """
                  - { kind: write-csv, name: raw, input: chunk, path: raw.csv, columns: [id] }
                  - { kind: transform, name: ids, fields: { id: id } }
                  - { kind: query, name: again, connection: db, sql: SELECT 1 AS id }
                  - { kind: write-csv, path: again.csv, columns: [id] }

                """
        #expect(
            try load(branching).summary
                == "plan 'demo': 7 stages (query → chunk; chunk → fetch; chunk → raw → ids; again → write-csv), "
                + "2 connections")
    }

    /// A plan saved as UTF-16 (with its byte order mark or without) is said to be, and its first
    /// line quoted as it reads, not as text with a NUL between each two letters.
    @Test(arguments: [true, false])
    func aPlanSavedAsUTF16IsSaidToBe(bigEndian: Bool) {
        let units = [UInt16(0xFEFF)] + Array(minimal.utf16)
        let bytes = units.dropFirst(bigEndian ? 0 : 1).flatMap {
            bigEndian ? [UInt8($0 >> 8), UInt8($0 & 0xFF)] : [UInt8($0 & 0xFF), UInt8($0 >> 8)]
        }
        var found: [Diagnostic] = []
        do {
            _ = try PlanLoader(environment: [:]).load(bytes: bytes, path: "plan.yaml", overrides: [])
        } catch {
            found = error.errors
        }
        #expect(
            found.map { $0.rendered() } == [
                "plan.yaml:1:1: error: file is saved as UTF-16: plans must be UTF-8 text\n    version: 1\n    ^\n"
                    + "    note: save it as UTF-8"
            ])
    }

    /// A duration past its maximum is said in the unit it was written in, not in seconds a
    /// float's error made inexact (`3.599999999999964e+17s`).
    @Test func aDurationPastItsMaximumIsSaidAsWritten() {
        let found = errors(minimal, overrides: ["connections.db.connect_timeout=99999999999999h"])
        #expect(
            found.map(\.message) == ["'connect_timeout' in connection 'db' is 99999999999999h, above the maximum 10m"])
    }

    /// An auth's kind changed with `--set`: the key the new kind needs is missing at the `--set`
    /// (the plan's line shows the kind it replaced), and the plan's keys that no longer fit fail
    /// at their lines, saying the kind came from the `--set`.
    @Test func anAuthKindGivenWithSetIsWhereItsMissingKeyIsReported() {
        let found = errors(InterpolationTests.inlineSecret, overrides: ["connections.api.auth.kind=bearer"])
        let needs = found.first { $0.message == "auth of connection 'api' is kind bearer, which needs 'token'" }
        #expect(needs?.location?.description == "--set:1:27", "\(found)")
        #expect(needs?.notes == [], "\(found)")
        let unused = found.filter { $0.message.hasSuffix("is not used by auth kind bearer") }
        #expect(unused.count == 3, "\(found)")
        for error in unused {
            #expect(error.location?.source.name == "plan.yaml", "\(error)")
            #expect(error.notes.last == "auth of connection 'api' has kind bearer from --set:1:27", "\(error)")
        }
        #expect(!found.map { $0.rendered() }.joined().contains("literal-s3cret"))
    }

    @Test func connectionOverride() throws {
        let plan = try load(minimal, overrides: ["connections.api.base_url=http://127.0.0.1:8/v1"])
        #expect(plan.connection(named: "api")?.http?.baseURL == "http://127.0.0.1:8/v1")
        #expect(
            errors(minimal, overrides: ["connections.nope.url=x"]).first?.message
                == "--set names 'nope', which the plan does not define")
    }

    /// What a manifest may keep of the overrides: a secret given in clear is redacted and its
    /// key listed, a `${VAR}` or a URL without a password is kept as given.
    /// `minimal` with OAuth2 whose client secret comes from the environment.
    static let inlineSecretFree = InterpolationTests.inlineSecret.replacingOccurrences(
        of: "client_secret: literal-s3cret", with: "client_secret: \"${CS:-x}\"")

    @Test func aSecretGivenWithSetIsRecordedRedacted() throws {
        let plan = try load(
            minimal,
            overrides: [
                "connections.db.url=postgres://u:pw-777@h/db", "chunk.size=20",
                "connections.api.headers.X-Api-Key=k-999",
            ])
        #expect(plan.connection(named: "db")?.postgres?.url.value == "postgres://u:pw-777@h/db")
        #expect(
            plan.recordedOverrides == [
                "connections.db.url=postgres://u:***@h/db", "chunk.size=20", "connections.api.headers.X-Api-Key=***",
            ])
        #expect(plan.secretOverrideKeys == ["connections.db.url", "connections.api.headers.X-Api-Key"])
        // A database password typed out is warned about like a client secret, and never shown.
        let password = try #require(
            plan.warnings.first { $0.message.hasPrefix("the url's password is given on the command line") })
        #expect(password.location?.description == "--set:1:20")
        #expect(!password.rendered().contains("pw-777"))

        let secretOnCommandLine = try load(
            Self.inlineSecretFree, overrides: ["connections.api.auth.client_secret=s3cret-cli"])
        #expect(
            secretOnCommandLine.warnings.first?.message.hasPrefix("client_secret is given on the command line") == true)
        #expect(secretOnCommandLine.warnings.first?.rendered().contains("s3cret-cli") == false)
        #expect(plan.overrides.count == 3)

        let viaVariable = try load(
            minimal, env: ["DB_URL": "postgres://u:pw-777@h/db"],
            overrides: ["connections.db.url=${DB_URL}", "connections.api.base_url=http://127.0.0.1:8/v1"])
        #expect(viaVariable.connection(named: "db")?.postgres?.url.value == "postgres://u:pw-777@h/db")
        #expect(!viaVariable.warnings.contains { $0.message.contains("password") })
        #expect(viaVariable.recordedOverrides == viaVariable.overrides)
        #expect(viaVariable.secretOverrideKeys.isEmpty)
        #expect(try load(minimal, overrides: ["connections.db.url=postgres://u@h/db"]).secretOverrideKeys.isEmpty)
    }

    @Test func emptyValueRestoresTheDefault() throws {
        let plan = try load(
            minimal.replacingOccurrences(of: "delay: 0.33s", with: "delay: 0.33s\n    retries: 9"),
            overrides: ["fetch.retries="])
        #expect(plan.stage(named: "fetch")?.fetch?.retries == 5)
        // Said, since an empty shell variable does it too: `--set fetch.delay=$DELAY`.
        #expect(
            plan.warnings.map(\.message) == [
                "--set fetch.retries= is empty: it restores the default, replacing the plan's '9'"
            ])
    }
}

@Suite struct RoundTripTests {
    /// The resolved plan (what the manifest keeps) loads back into the same plan: replays rely on it.
    @Test func resolvedPlanLoadsBackIdentically() throws {
        let original = try PlanLoader(environment: spotifyEnvironment)
            .load(
                path: repositoryRoot.appendingPathComponent("plans/spotify-enrichment.yaml").path,
                overrides: ["chunk.size=20", "fetch.delay=0.5s"])
        let text = original.resolved.jsonText()
        let again = try PlanLoader(environment: spotifyEnvironment).load(bytes: Array(text.utf8), path: "resolved.json")
        #expect(again.resolved == original.resolved)
        #expect(again.stages.map(\.redactedParameters) == original.stages.map(\.redactedParameters))
        #expect(again.stages.map(\.input) == original.stages.map(\.input))
        #expect(again.connection(named: "spotify")?.http?.auth?.oauth2?.clientSecret.value == "client-secret-xyz")
        #expect(again.stage(named: "chunk")?.chunk?.size == 20)
        #expect(
            again.stage(named: "transform")?.transform?.fields.map(\.name)
                == ["track_id", "spotify_id", "spotify_popularity", "isrc"])
    }

    @Test func dollarSignsSurviveTheRoundTrip() throws {
        let plan = try load(minimal.replacingOccurrences(of: "path: /tracks", with: "path: \"/a$$b/${X:-c}\""))
        let again = try load(plan.resolved.jsonText())
        #expect(again.stage(named: "fetch")?.fetch?.path.text == "/a$b/c")
    }
}

@Suite struct ExpressionTests {
    @Test(arguments: [
        ("response.popularity", #"{"popularity":71}"#, "71"),
        ("response.external_ids.isrc", #"{"external_ids":{"isrc":"us-um7-17-03861"}}"#, #""us-um7-17-03861""#),
        (
            "upper(replace(trim(response.external_ids.isrc), '-', ''))",
            #"{"external_ids":{"isrc":" us-um7-17-03861 "}}"#,
            #""USUM71703861""#
        ),
        ("response.missing.deeper", #"{"a":1}"#, "null"),
        ("coalesce(response.popularity, 0)", #"{}"#, "0"),
        ("default(response.name, 'unknown')", #"{"name":""}"#, #""unknown""#),
        ("concat('a', response.x, 'b')", #"{"x":1}"#, #""a1b""#),
        ("int(response.s)", #"{"s":"42"}"#, "42"),
        // As a YAML block scalar gives it: line breaks are spaces (`>` keeps the last, `|` all).
        ("upper(response.name)\n", #"{"name":"x"}"#, #""X""#),
        ("concat(response.name,\r\n  '-',\n  response.name)\n", #"{"name":"x"}"#, #""x-x""#),
    ])
    func evaluates(expression: String, response: String, expected: String) throws {
        let e = try Expression.parse(expression)
        let bound = try e.bind(to: ["id", "response"])
        #expect(JSON.encode(bound.evaluate([.string("x"), try JSON.decode(response)])) == expected)
    }

    /// The Spotify plan's id expression (the engine has no Spotify function) takes the id forms
    /// real catalogs hold, and transform writes the same id into the audit CSV.
    @Test(arguments: [
        ("spotify:track:3n3Ppam7vgaVa1iaRUc9Lp", "3n3Ppam7vgaVa1iaRUc9Lp"),
        ("SPOTIFY:track:3n3Ppam7vgaVa1iaRUc9Lp", "3n3Ppam7vgaVa1iaRUc9Lp"),
        ("https://open.spotify.com/track/3n3Ppam7vgaVa1iaRUc9Lp?si=abc", "3n3Ppam7vgaVa1iaRUc9Lp"),
        ("https://open.spotify.com/intl-de/track/3n3Ppam7vgaVa1iaRUc9Lp", "3n3Ppam7vgaVa1iaRUc9Lp"),
        ("open.spotify.com/track/3n3Ppam7vgaVa1iaRUc9Lp#x", "3n3Ppam7vgaVa1iaRUc9Lp"),
        ("  3n3Ppam7vgaVa1iaRUc9Lp ", "3n3Ppam7vgaVa1iaRUc9Lp"),
        ("abc", "abc"),
    ])
    func theSpotifyPlanExtractsBareIDs(input: String, expected: String) async throws {
        let path = repositoryRoot.appendingPathComponent("plans/spotify-enrichment.yaml").path
        let plan = try await BlockingIO.runOnOwnThread {
            try PlanLoader(environment: spotifyEnvironment).load(path: path)
        }
        let id = try #require(plan.stage(named: "fetch")?.fetch?.id)
        let written = plan.stage(named: "transform")?.transform?.fields.first { $0.name == "spotify_id" }?.expression
        #expect(written == id)
        #expect(try id.bind(to: ["spotify_id"]).evaluate([.string(input)]) == .string(expected))
    }

    @Test func missingFieldIsNamedWithSuggestion() throws {
        let e = try Expression.parse("upper(spotfy_id)")
        #expect(throws: Expression.MissingFieldError.self) { try e.bind(to: ["track_id", "spotify_id"]) }
        do {
            _ = try e.bind(to: ["track_id", "spotify_id"])
        } catch {
            #expect(error.description.contains("field 'spotfy_id' is not in the input"))
            #expect(error.description.contains("did you mean 'spotify_id'?"))
        }
    }

    @Test(arguments: [
        ("upper(", "expected an expression"), ("upper(a, b)", "upper takes upper(value), got 2 argument(s)"),
        ("'open", "unterminated string"), ("a..b", "expected a field name after '.'"), ("a b", "unexpected 'b'"),
    ])
    func rejectsMalformedExpressions(text: String, message: String) {
        #expect(throws: Expression.ParseError.self) { try Expression.parse(text) }
        do { _ = try Expression.parse(text) } catch { #expect(error.message == message) }
    }

    @Test func parsesExpectations() throws {
        let e = try Expectation.parse(">= {{ stages.apply.changed }} * 0.95")
        #expect(e.comparison == .atLeast)
        #expect(e.operand == .stageCounter(stage: "apply", counter: "changed"))
        #expect(e.factor == 0.95)
        #expect(try Expectation.parse("== 0").operand == .number(0))
        #expect(throws: Expectation.ParseError.self) { try Expectation.parse("=> 3") }
    }
}

@Suite struct GraphAndReferenceTests {
    @Test func mermaidGraphShowsStagesEdgesAndConnections() throws {
        let graph = PlanGraph.render(try load(minimal), format: .mermaid)
        #expect(graph.hasPrefix("flowchart LR\n"))
        #expect(graph.contains("s_query --> s_chunk"))
        #expect(graph.contains("s_chunk --> s_fetch"))
        #expect(graph.contains("s_fetch -.- c_api"))
        #expect(graph.contains("c_db[(\"db\")]"))
    }

    /// Stage names that differ only in punctuation (`w-a`, `w_a`) are two nodes, not one.
    @Test func everyStageNameIsANodeOfItsOwn() {
        let names = ["w-a", "w_a", "w a", "wa", "w__a", "w.a", "wé"]
        let ids = names.map { PlanGraph.id("s", $0) }
        #expect(Set(ids).count == names.count, "\(ids)")
        #expect(
            ids.allSatisfy {
                $0.unicodeScalars.allSatisfy {
                    $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0))
                }
            }, "\(ids)")
        #expect(PlanGraph.id("s", "write-csv") == "s_write_2d_csv")
    }

    @Test func dotGraphIsADigraph() throws {
        let graph = PlanGraph.render(try load(minimal), format: .dot)
        #expect(graph.hasPrefix("digraph \"demo\" {"))
        #expect(graph.contains("s_query -> s_chunk;"))
        #expect(graph.hasSuffix("}\n"))
    }

    /// docs/plan-reference.md is generated from the schema; regenerate with `sluice reference`.
    @Test func committedReferenceMatchesTheSchema() async throws {
        let reference = repositoryRoot.appendingPathComponent("docs/plan-reference.md")
        let committed = try await BlockingIO.runOnOwnThread { try String(contentsOf: reference, encoding: .utf8) }
        #expect(committed == Schema.referenceMarkdown(), "run: swift run sluice reference > docs/plan-reference.md")
    }
}

@Suite struct RobustnessTests {
    /// Random bytes and random mutations of a valid plan never crash the loader: they load or
    /// give located errors. Bounded in count so it stays quick and deterministic.
    @Test func randomInputNeverCrashes() async throws {
        var rng = SplitMix64(seed: 0x5EED)
        var pause = CooperativePause()
        let base = Array(minimal.utf8)
        let alphabet = Array(":-[]{}&*!|>'\"%@`#,?\n\t ${}.0123456789abcsize".utf8)
        for round in 0..<3000 {
            var bytes: [UInt8]
            if round % 3 == 0 {
                bytes = (0..<Int(rng.next() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                bytes = base
                for _ in 0..<(1 + Int(rng.next() % 6)) {
                    let at = Int(rng.next() % UInt64(bytes.count))
                    switch rng.next() % 3 {
                    case 0: bytes[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                    case 1: bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
                    default: if bytes.count > 1 { bytes.remove(at: at) }
                    }
                }
            }
            await pause.yieldIfDue()
            do {
                _ = try PlanLoader(environment: [:]).load(bytes: bytes, path: "fuzz.yaml", overrides: [])
            } catch {
                #expect(!error.errors.isEmpty)
                for d in error.errors { #expect(d.location != nil || d.message.hasPrefix("cannot read")) }
            }
        }
    }

    @Test func thousandStagePlanLoads() throws {
        var yaml = minimal
        for i in 0..<997 { yaml += "  - { kind: transform, name: t\(i), fields: { spotify_id: spotify_id } }\n" }
        let plan = try load(yaml)
        #expect(plan.stages.count == 1000)
    }
}
