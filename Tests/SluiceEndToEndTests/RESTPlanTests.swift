import APIFixtureServer
import Foundation
import SluiceCore
import SluicePipeline
import SluiceTestSupport
import Testing

/// `plans/musicbrainz-isrc.yaml` and `plans/openlibrary-isbn.yaml`, run by the real `sluice`
/// binary against a throwaway PostgreSQL and a local server that plays each API, rules included.
@Suite(.serialized)
struct RESTPlanTests {
    /// A database with `schema`, a fixture server for `api`, and the environment the plans read.
    struct Fixture {
        let server: TestPostgres
        let conninfo: String
        let api: FixtureServer
        let directory: URL
        let sluice: SluiceProcess

        static func make(
            schema: String, api: FixtureAPI, environment extra: (String) -> [String: String]
        ) async throws
            -> Fixture
        {
            let server = try await TestPostgres.shared()
            let conninfo = try await server.makeDatabase(prefix: "sluice_rest")
            _ = try await server.execute(schema, conninfo: conninfo)
            let fixture = FixtureServer(api: api)
            _ = try await fixture.start()
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "sluice-rest-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            var environment = ProcessInfo.processInfo.environment
            environment["DATABASE_URL"] = conninfo
            environment["NO_COLOR"] = "1"
            environment.merge(extra(fixture.origin!)) { _, new in new }
            return Fixture(
                server: server, conninfo: conninfo, api: fixture, directory: directory,
                sluice: SluiceProcess(environment: environment, directory: directory))
        }

        func run(_ plan: String, _ extra: [String] = []) async throws -> SluiceProcess.Outcome {
            try await sluice.run(
                ["run", plan, "--yes", "--runs-dir", directory.appendingPathComponent("runs").path] + extra)
        }

        func rows(_ sql: String) async throws -> [[String?]] {
            try await server.execute(sql, conninfo: conninfo).rows.map { $0.map(\.text) }
        }

        /// Writes `text` as the plan `name`, runs it to its approval gate, edits the file, and
        /// approves the run (`replay --from apply --yes`, by `approver` if given) from the plan
        /// its manifest recorded. Returns the fetch keys that plan holds.
        func stopEditAndApprove(
            _ text: [UInt8], name: String, approver: SluiceProcess? = nil
        ) async throws -> [String: Value] {
            let plan = directory.appendingPathComponent(name)
            let runs = directory.appendingPathComponent("runs")
            try await Files.write(text, to: plan)
            let stopped = try await sluice.run(["run", plan.path, "--runs-dir", runs.path])
            #expect(stopped.status == 3, "\(stopped.stderr)")
            let (run, manifest) = try #require(await Files.runs(in: runs).last)
            let fetchKeys = try #require(RESTPlanTests.fetchKeys(in: manifest))
            try await Files.write(text + Array("# edited\n".utf8), to: plan)
            let approved = try await (approver ?? sluice).run(["replay", run.path, "--from", "apply", "--yes"])
            #expect(approved.status == 0, "\(approved.stderr)")
            #expect(approved.stderr.contains("using the plan recorded in its manifest"), "\(approved.stderr)")
            #expect(
                approved.stderr.contains("(to use the file as it is now: --plan \(plan.path))"), "\(approved.stderr)")
            return fetchKeys
        }

        func tearDown() async {
            await api.stop()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// The keys of the fetch stage in the plan `manifest` recorded.
    static func fetchKeys(in manifest: Manifest) -> [String: Value]? {
        guard case .array(let list) = manifest.resolvedPlan["stages"],
            case .object(let keys) = list.first(where: { $0["kind"] == "fetch" })
        else { return nil }
        return keys
    }

    /// A database with `schema` and `api` as the vendor ``vendorPlan(sql:fetch:)`` reads, its key `k3y`.
    static func vendorFixture(schema: String, api: FixtureAPI) async throws -> Fixture {
        try await Fixture.make(schema: schema, api: api) { origin in ["VENDOR_URL": origin, "VENDOR_KEY": "k3y"] }
    }

    /// A vendor API answering a POST batch of skus with a score each (s1: 7, s2: 9), books s1
    /// and s2 (score 1) and the `more` rows, and the vendor plan that asks it about every book
    /// with `body`, its key in the header X-Api-Key, or in the body's member `keyInBody`.
    static func postBatch(
        books more: String? = nil, body: String = #"{ ids: "{ids}" }"#, keyInBody: String? = nil
    ) async throws -> (Fixture, String) {
        var api = FixtureAPI(
            shape: .batchList(path: "/v1/lookup", bodyKey: "ids", resultsKey: "results"),
            answers: ["s1": .object(["id": "s1", "score": 7]), "s2": .object(["id": "s2", "score": 9])])
        if keyInBody == nil { api.requiredHeader = ("X-Api-Key", "k3y") }
        let schema = """
            CREATE TABLE books (id uuid PRIMARY KEY, sku text, score int);
            INSERT INTO books VALUES ('\(Self.uuid(1))', 's1', NULL), ('\(Self.uuid(2))', 's2', 1)\(more.map { ", " + $0 } ?? "");
            """
        let fixture = try await Self.vendorFixture(schema: schema, api: api)
        let text = Self.vendorPlan(
            sql: "SELECT id AS book_id, sku FROM books ORDER BY id",
            fetch: """
                path: /v1/lookup
                method: POST
                id: sku
                body: \(body)
                items_key: results
                match: { item_field: id }
                """)
        return (
            fixture,
            keyInBody.map { text.replacingOccurrences(of: "header: X-Api-Key", with: "body_field: \($0)") } ?? text
        )
    }

    /// A vendor API plan: `sql` from `books`, a fetch from the `vendor` connection (an API key
    /// in a header) with the `fetch` lines, each answer's `score` applied at an approval gate.
    static func vendorPlan(sql: String, fetch: String) -> String {
        """
        \(Self.vendorConnections(name: "vendor"))
        stages:
          - { name: query, kind: query, connection: db, sql: "\(sql)" }
          - name: fetch
            kind: fetch
            connection: vendor
        \(fetch.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
          - { name: transform, kind: transform, fields: { book_id: book_id, score: response.score } }
          - name: apply
            kind: apply
            requires_approval: true
            connection: db
            table: books
            key: id
            key_field: book_id
            columns: { score: {} }

        """
    }

    /// A plan's first lines: its `name`, the database and the vendor API (its key in a header).
    static func vendorConnections(name: String) -> String {
        """
        version: 1
        name: \(name)
        connections:
          db: { kind: postgres, url: "${DATABASE_URL}" }
          vendor:
            kind: http
            base_url: "${VENDOR_URL}"
            auth: { kind: api-key, header: X-Api-Key, key: "${VENDOR_KEY}" }
        """
    }

    static func uuid(_ n: Int) -> String { String(format: "00000000-0000-4000-8000-%012d", n) }

    static func recording(_ mbid: String, length: Int?, also: Int = 0) -> Value {
        var first: [String: Value] = ["id": .string(mbid), "title": "Song"]
        if let length { first["length"] = .int(Int64(length)) }
        let more = (0..<also).map { Value.object(["id": .string(RESTPlanTests.uuid(900 + $0)), "title": "Cover"]) }
        return .object(["isrc": "X", "recordings": .array([.object(first)] + more)])
    }

    /// ISRCs known (one with two recordings, one without a length), unknown (404), malformed
    /// (never sent), written with dashes and in lower case; one track already in the side table
    /// with an old MBID, one already right. At MusicBrainz's own pace, with its User-Agent rule
    /// and 503s enforced: no request refused or throttled, the side table exactly right.
    @Test func musicBrainzPlanUpsertsRecordingsAtOneRequestASecond() async throws {
        var api = FixtureAPI(
            shape: .perItem(pathPrefix: "/ws/2/isrc/"),
            answers: [
                "USRC17607839": Self.recording(Self.uuid(101), length: 207_000),
                "GBAYE0601498": Self.recording(Self.uuid(102), length: 181_000, also: 2),
                "NLA509900001": Self.recording(Self.uuid(103), length: nil),
                "DEF058830500": Self.recording(Self.uuid(104), length: 240_000),
            ])
        api.requiresUserAgent = true
        api.requiredQuery = ["fmt": "json"]
        api.minInterval = .seconds(1)
        let schema = """
            CREATE TABLE tracks (id uuid PRIMARY KEY, isrc text);
            CREATE TABLE track_musicbrainz (track_id uuid PRIMARY KEY REFERENCES tracks (id),
                                            mbid uuid NOT NULL, length_ms int, recordings int);
            INSERT INTO tracks VALUES
              ('\(Self.uuid(1))', 'USRC17607839'), ('\(Self.uuid(2))', 'gb-aye-06-01498'),
              ('\(Self.uuid(3))', 'NLA509900001'), ('\(Self.uuid(4))', 'ZZZZZ9999999'),
              ('\(Self.uuid(5))', 'not an isrc'), ('\(Self.uuid(6))', 'DEF058830500'), ('\(Self.uuid(7))', NULL);
            INSERT INTO track_musicbrainz VALUES
              ('\(Self.uuid(3))', '\(Self.uuid(999))', 123000, 1), ('\(Self.uuid(6))', '\(Self.uuid(104))', 240000, 1);
            """
        let fixture = try await Fixture.make(schema: schema, api: api) { origin in
            [
                "MUSICBRAINZ_API_URL": origin + "/ws/2",
                "MUSICBRAINZ_USER_AGENT": "SluiceTests/1.0 ( tests@example.com )",
            ]
        }
        defer { Task { await fixture.tearDown() } }

        let started = ContinuousClock.now
        let outcome = try await fixture.run("plans/musicbrainz-isrc.yaml")
        let elapsed = started.duration(to: .now)
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)\nstdout: \(outcome.stdout)")
        #expect(
            try await fixture.rows("SELECT track_id, mbid, length_ms, recordings FROM track_musicbrainz ORDER BY 1")
                == [
                    [Self.uuid(1), Self.uuid(101), "207000", "1"],
                    [Self.uuid(2), Self.uuid(102), "181000", "3"],
                    [Self.uuid(3), Self.uuid(103), "123000", "1"],  // no length now: the earlier one is kept
                    [Self.uuid(6), Self.uuid(104), "240000", "1"],
                ])
        let stats = fixture.api.stats()
        #expect(stats.refused == 0)
        // At the plan's pace the API has no reason to throttle; on a busy machine a request can
        // still reach it early and get a 503, which is then waited out: no gap is ever short.
        let gaps = zip(stats.answeredAt.dropFirst(), stats.answeredAt).map { $0 - $1 }
        #expect(gaps.allSatisfy { $0 >= 0.98 }, "\(gaps)")
        // Five well-formed ISRCs, one request each; the malformed one was never sent.
        #expect(
            stats.idsAsked.sorted() == ["DEF058830500", "GBAYE0601498", "NLA509900001", "USRC17607839", "ZZZZZ9999999"])
        #expect(stats.answered == 5)
        #expect(elapsed >= .seconds(4), "five requests at one a second")

        // Again: every answer is the same, so nothing changes.
        let again = try await fixture.run("plans/musicbrainz-isrc.yaml")
        #expect(again.status == 0, "stderr: \(again.stderr)")
        #expect(again.stdout.contains("changed=0") || again.stdout.contains("0 rows changed"), "\(again.stdout)")
    }

    /// A per-item plan's run stopped at its gate is approved from the plan its manifest recorded
    /// once the file has changed. That plan does not list the batch keys' defaults, which would
    /// not check on a per-item fetch (manifests that did are read as they were), and applying
    /// needs only the database's variables.
    @Test func aPerItemRunIsApprovedFromItsRecordedPlanOnceTheFileChanged() async throws {
        var api = FixtureAPI(
            shape: .perItem(pathPrefix: "/ws/2/isrc/"),
            answers: ["USRC17607839": Self.recording(Self.uuid(101), length: 207_000)])
        api.requiredQuery = ["fmt": "json"]
        let schema = """
            CREATE TABLE tracks (id uuid PRIMARY KEY, isrc text);
            CREATE TABLE track_musicbrainz (track_id uuid PRIMARY KEY, mbid uuid NOT NULL, length_ms int, recordings int);
            INSERT INTO tracks VALUES ('\(Self.uuid(1))', 'USRC17607839');
            """
        let fixture = try await Fixture.make(schema: schema, api: api) { origin in
            [
                "MUSICBRAINZ_API_URL": origin + "/ws/2",
                "MUSICBRAINZ_USER_AGENT": "SluiceTests/1.0 ( tests@example.com )",
            ]
        }
        defer { Task { await fixture.tearDown() } }
        let text = try await Files.bytes(SluiceProcess.root.appendingPathComponent("plans/musicbrainz-isrc.yaml"))
        var databaseOnly = fixture.sluice
        databaseOnly.environment["MUSICBRAINZ_API_URL"] = nil
        databaseOnly.environment["MUSICBRAINZ_USER_AGENT"] = nil
        let fetchKeys = try await fixture.stopEditAndApprove(text, name: "musicbrainz.yaml", approver: databaseOnly)
        #expect(fetchKeys["max_ids"] == nil && fetchKeys["ids_param"] == nil, "\(fetchKeys.keys.sorted())")
        #expect(try await fixture.rows("SELECT mbid FROM track_musicbrainz") == [[Self.uuid(101)]])
    }

    /// The same for a POST batch: its recorded plan (the plan file edited since the run) loads
    /// for the approval, without the GET keys' defaults that would not check as given.
    @Test func aPostRunIsApprovedFromItsRecordedPlanOnceTheFileChanged() async throws {
        let (fixture, text) = try await Self.postBatch(books: "('\(Self.uuid(3))', 'zz', NULL)")
        defer { Task { await fixture.tearDown() } }
        let fetchKeys = try await fixture.stopEditAndApprove(Array(text.utf8), name: "vendor.yaml")
        #expect(fetchKeys["ids_param"] == nil && fetchKeys["max_ids"] != nil, "\(fetchKeys.keys.sorted())")
        #expect(
            try await fixture.rows("SELECT sku, score FROM books ORDER BY id") == [
                ["s1", "7"], ["s2", "9"], ["zz", nil],
            ])
    }

    /// An API that knows none of the ids asked (as when the plan asks or reads wrong), with
    /// `on_not_found: keep`, would have every row's values cleared: the fetch stops and nothing
    /// is applied. `--force` goes on, as it says.
    @Test func aKeptFetchThatFindsNothingStopsBeforeTheApply() async throws {
        let (fixture, text) = try await Self.postBatch()
        defer { Task { await fixture.tearDown() } }
        let wrong = text.replacingOccurrences(of: "path: /v1/lookup", with: "path: /v1/lookup\n    on_not_found: keep")
        let plan = fixture.directory.appendingPathComponent("keep.yaml")
        try await Files.write(Array(wrong.utf8), to: plan)
        _ = try await fixture.server.execute("UPDATE books SET sku = 'x' || sku", conninfo: fixture.conninfo)
        let before = try await fixture.rows("SELECT sku, score FROM books ORDER BY id")
        #expect(before == [["xs1", nil], ["xs2", "1"]])

        let stopped = try await fixture.run(plan.path)
        #expect(stopped.status != 0, "\(stopped.stderr)")
        let said = stopped.stdout + stopped.stderr
        #expect(said.contains("the API found none of the 2 ids it was asked about, and on_not_found: keep"), "\(said)")
        #expect(said.contains("--force goes on"))
        #expect(try await fixture.rows("SELECT sku, score FROM books ORDER BY id") == before, "nothing applied")

        let forced = try await fixture.run(plan.path, ["--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stdout.contains("--force: the API found none of the 2 ids"), "\(forced.stdout)")
        #expect(try await fixture.rows("SELECT sku, score FROM books ORDER BY id") == [["xs1", nil], ["xs2", nil]])
    }

    /// A plan given by a relative path is recorded by its absolute one: a run approved from
    /// another directory reads the same file (it found no file there, fell back on the
    /// manifest's copy and offered `--plan vendor.yaml`, a path that did not exist there).
    @Test func aPlanGivenByARelativePathIsFoundFromAnotherDirectory() async throws {
        let (fixture, text) = try await Self.postBatch()
        defer { Task { await fixture.tearDown() } }
        let plan = fixture.directory.appendingPathComponent("vendor.yaml")
        let runs = fixture.directory.appendingPathComponent("runs").path
        try await Files.write(Array(text.utf8), to: plan)
        var beside = fixture.sluice
        beside.workingDirectory = fixture.directory
        let stopped = try await beside.run(["run", "vendor.yaml", "--runs-dir", runs])
        #expect(stopped.status == 3, "\(stopped.stderr)")
        let (run, manifest) = try #require(await Files.runs(in: URL(fileURLWithPath: runs)).last)
        #expect(manifest.plan.path == plan.standardizedFileURL.path)

        let approved = try await fixture.sluice.run(["replay", run.path, "--from", "apply", "--yes"])
        #expect(approved.status == 0, "\(approved.stderr)")
        #expect(!approved.stderr.contains("missing or changed"), "\(approved.stderr)")
        #expect(try await fixture.rows("SELECT sku, score FROM books ORDER BY id") == [["s1", "7"], ["s2", "9"]])
    }

    /// A resume whose plan file changed since the run loads the plan its manifest recorded, with
    /// the plan's own order in every mapping (a body's keys, a query's parameters, a transform's
    /// fields): the answers recorded are found again and only the id that failed is asked again.
    @Test func aResumeFromTheRecordedPlanAsksOnlyWhatWasNotAnswered() async throws {
        var api = FixtureAPI(
            shape: .itemBody(path: "/v1/score", idKey: "sku"),
            answers: ["s1": .object(["score": 7]), "s2": .object(["score": 9])])
        api.requiredHeader = ("X-Api-Key", "k3y")
        api.failing = ["s3"]
        let schema = """
            CREATE TABLE books (id uuid PRIMARY KEY, sku text, score int);
            INSERT INTO books VALUES ('\(Self.uuid(1))', 's1', NULL), ('\(Self.uuid(2))', 's2', 1),
              ('\(Self.uuid(3))', 's3', NULL);
            """
        let fixture = try await Self.vendorFixture(schema: schema, api: api)
        defer { Task { await fixture.tearDown() } }
        let text = Self.vendorPlan(
            sql: "SELECT id AS book_id, sku FROM books ORDER BY id",
            fetch: """
                path: /v1/score
                method: POST
                body: { sku: "{sku}", model: v2 }
                query: { zz: "1", aa: "2" }
                retries: 0
                """)
        let plan = fixture.directory.appendingPathComponent("order.yaml")
        let runs = fixture.directory.appendingPathComponent("runs").path
        try await Files.write(Array(text.utf8), to: plan)
        let failed = try await fixture.sluice.run(["run", plan.path, "--runs-dir", runs])
        #expect(failed.status != 0 && failed.status != 3, "\(failed.stderr)")
        let (run, manifest) = try #require(await Files.runs(in: URL(fileURLWithPath: runs)).last)
        #expect(
            manifest.resolvedPlanKeyOrder["/stages/1/body"] == ["sku", "model"], "\(manifest.resolvedPlanKeyOrder)")
        let asked = fixture.api.stats().requests
        #expect(asked == 3)
        // Each body as the plan wrote it, not with its keys sorted.
        let sent = Set(["s1", "s2", "s3"].map { "{\"sku\":\"\($0)\",\"model\":\"v2\"}" })
        #expect(Set(fixture.api.stats().rawBodies) == sent, "\(fixture.api.stats().rawBodies)")
        try await Files.write(Array((text + "# edited\n").utf8), to: plan)

        let resumed = try await fixture.sluice.run(["resume", run.path, "--yes"])
        #expect(resumed.stderr.contains("using the plan recorded in its manifest"), "\(resumed.stderr)")
        #expect(fixture.api.stats().requests == asked + 1, "only s3 again: \(resumed.stderr)")
        #expect(fixture.api.stats().rawBodies.last == #"{"sku":"s3","model":"v2"}"#, "\(fixture.api.stats().rawBodies)")
    }

    /// A batch POST's body goes out with its keys in the order the plan wrote them, nested ones
    /// and each id's copy of a repeated item included, the connection's key (auth body_field)
    /// after them; the same from the plan a manifest recorded: some APIs sign the body as sent,
    /// or read its members in order. They went sorted.
    @Test func aPostBodyIsSentInThePlansKeyOrderAlsoFromTheRecordedPlan() async throws {
        let (fixture, text) = try await Self.postBatch(
            body: #"{ model: v2, ids: "{ids}", each: [{ sku: "{id}", at: 1 }], options: { zeta: 1, alpha: [2] } }"#,
            keyInBody: "token")
        defer { Task { await fixture.tearDown() } }
        let plan = fixture.directory.appendingPathComponent("ordered.yaml")
        let runs = fixture.directory.appendingPathComponent("runs")
        try await Files.write(Array(text.utf8), to: plan)
        let stopped = try await fixture.sluice.run(["run", plan.path, "--runs-dir", runs.path])
        #expect(stopped.status == 3, "\(stopped.stderr)")
        let (run, _) = try #require(await Files.runs(in: runs).last)
        let body =
            #"{"model":"v2","ids":["s1","s2"],"each":[{"sku":"s1","at":1},{"sku":"s2","at":1}],"#
            + #""options":{"zeta":1,"alpha":[2]},"token":"k3y"}"#
        #expect(fixture.api.stats().rawBodies == [body])

        try await Files.write(Array((text + "# edited\n").utf8), to: plan)
        let replayed = try await fixture.sluice.run(["replay", run.path, "--from", "fetch"])
        #expect(replayed.status == 3, "\(replayed.stderr)")
        #expect(replayed.stderr.contains("using the plan recorded in its manifest"), "\(replayed.stderr)")
        #expect(fixture.api.stats().rawBodies == [body, body])
    }

    /// A transform fixed in the plan file after the run fetched: `replay --from transform --plan
    /// FILE` runs the file's transform on the answers the run recorded (the API is not asked
    /// again) and records the file it used; a file that cannot be read changes nothing.
    @Test func aReplayWithPlanUsesTheFileAsItIsNowOnTheRecordedAnswers() async throws {
        let (fixture, text) = try await Self.postBatch()
        defer { Task { await fixture.tearDown() } }
        let plan = fixture.directory.appendingPathComponent("vendor.yaml")
        let runs = fixture.directory.appendingPathComponent("runs").path
        try await Files.write(Array(text.utf8), to: plan)
        let stopped = try await fixture.sluice.run(["run", plan.path, "--runs-dir", runs])
        #expect(stopped.status == 3, "\(stopped.stderr)")
        let (run, _) = try #require(await Files.runs(in: URL(fileURLWithPath: runs)).last)
        let requests = fixture.api.stats().requests
        let fixed = text.replacingOccurrences(of: "score: response.score", with: "score: response.score * 10")
        #expect(fixed != text)
        try await Files.write(Array(fixed.utf8), to: plan)

        let missing = fixture.directory.appendingPathComponent("nope.yaml").path
        let unreadable = try await fixture.sluice.run([
            "replay", run.path, "--from", "transform", "--plan", missing, "--yes",
        ])
        #expect(unreadable.status == 2, "\(unreadable.stderr)")
        #expect(
            unreadable.stderr.contains("error: cannot read the plan \(missing): no such file"), "\(unreadable.stderr)")
        #expect(await Files.runs(in: URL(fileURLWithPath: runs)).count == 1, "no run made")

        let replayed = try await fixture.sluice.run([
            "replay", run.path, "--from", "transform", "--plan", plan.path, "--yes",
        ])
        #expect(replayed.status == 0, "\(replayed.stderr)")
        #expect(
            replayed.stderr.contains("note: using \(plan.path) as it is now, not the plan run "), "\(replayed.stderr)")
        #expect(fixture.api.stats().requests == requests, "the recorded answers, not the API")
        #expect(try await fixture.rows("SELECT sku, score FROM books ORDER BY id") == [["s1", "70"], ["s2", "90"]])
        let (_, manifest) = try #require(await Files.runs(in: URL(fileURLWithPath: runs)).last)
        #expect(manifest.plan.sha256 == SHA256.hex(Array(fixed.utf8)))
        #expect(manifest.stage("fetch")?.status == .skipped)
    }

    /// Books s1, s2 and s3, a vendor API (`refusing` the second request) asked for each one's
    /// score with a POST per row and `retries: 0`, and the run of that plan, which stopped
    /// resumably at its second request with s1's answer: the fixture and its runs directory.
    static func scoresStoppedAtTheSecondRequest(
        refusing: (inout FixtureAPI) -> Void
    ) async throws -> (Fixture, URL) {
        var api = FixtureAPI(
            shape: .itemBody(path: "/v1/score", idKey: "sku"),
            answers: ["s1": .object(["score": 7]), "s2": .object(["score": 9]), "s3": .object(["score": 4])])
        api.requiredHeader = ("X-Api-Key", "k3y")
        refusing(&api)
        let schema = """
            CREATE TABLE books (id uuid PRIMARY KEY, sku text, score int);
            INSERT INTO books VALUES ('\(Self.uuid(1))', 's1', NULL), ('\(Self.uuid(2))', 's2', NULL),
              ('\(Self.uuid(3))', 's3', NULL);
            """
        let fixture = try await Self.vendorFixture(schema: schema, api: api)
        let plan = fixture.directory.appendingPathComponent("score.yaml")
        let runs = fixture.directory.appendingPathComponent("runs")
        let text = Self.vendorPlan(
            sql: "SELECT id AS book_id, sku FROM books ORDER BY id",
            fetch: "path: /v1/score\nmethod: POST\nbody: { sku: \"{sku}\" }\nretries: 0")
        try await Files.write(Array(text.utf8), to: plan)
        let first = try await fixture.sluice.run(["run", plan.path, "--runs-dir", runs.path])
        #expect(first.status == 4, "\(first.stderr)")
        return (fixture, runs)
    }

    /// A replay of the fetch that stops resumably is resumed as that replay, reusing the answers
    /// it got: only the rest is asked (an API that refuses a request sooner than a second after
    /// the last, with `retries: 0`, stops each run at its second request).
    @Test func aResumedReplayOfTheFetchAsksOnlyWhatItWasNotAnswered() async throws {
        let (fixture, runs) = try await Self.scoresStoppedAtTheSecondRequest { $0.minInterval = .seconds(1) }
        defer { Task { await fixture.tearDown() } }
        let (original, _) = try #require(await Files.runs(in: runs).last)
        try await Task.sleep(for: .milliseconds(1500))
        let replayed = try await fixture.sluice.run(["replay", original.path, "--from", "fetch"])
        #expect(replayed.status == 4, "\(replayed.stderr)")
        let (replay, replayManifest) = try #require(await Files.runs(in: runs).last)
        #expect(replayManifest.replayOf?.runID == original.lastPathComponent)
        let kept = replayManifest.stage("fetch")?.outputs.first { $0.kind == "answers" }
        #expect(kept?.rows == 1, "one answer kept: \(String(describing: replayManifest.stage("fetch")))")

        // The server times arrivals on this process's busy threads: the resume's pace is well
        // over its 1 s, so that a late stamp cannot make a request look early.
        try await Task.sleep(for: .milliseconds(1500))
        let asked = fixture.api.stats().requests
        let resumed = try await fixture.sluice.run(["resume", replay.path, "--set", "fetch.delay=2s", "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let (_, manifest) = try #require(await Files.runs(in: runs).last)
        let fetch = try #require(manifest.stage("fetch"))
        #expect(fetch.counters["reused_answers"] == 1, "\(fetch.counters)")
        #expect(fixture.api.stats().requests - asked == 2, "only the two it had no answer for")
        #expect(
            try await fixture.rows("SELECT sku, score FROM books ORDER BY id") == [
                ["s1", "7"], ["s2", "9"], ["s3", "4"],
            ])
    }

    /// A resume that stops on the API again (a record it always fails on) counts the rows it
    /// answered from the answers it reused, as its notice says, and keeps them for the next
    /// resume, which asks again only what no run was answered.
    @Test func aResumeThatStopsAgainCountsAndKeepsTheAnswersItReused() async throws {
        let (fixture, runs) = try await Self.scoresStoppedAtTheSecondRequest { $0.failing = ["s2"] }
        defer { Task { await fixture.tearDown() } }
        var resumeOf = try #require(await Files.runs(in: runs).last).directory
        for _ in 1...2 {
            let asked = fixture.api.stats().requests
            let resumed = try await fixture.sluice.run(["resume", resumeOf.path, "--yes"])
            #expect(resumed.status == 4, "\(resumed.stderr)")
            #expect(resumed.stdout.contains("reusing the answers for 1 distinct ids"), "\(resumed.stdout)")
            let (run, manifest) = try #require(await Files.runs(in: runs).last)
            let fetch = try #require(manifest.stage("fetch"))
            #expect(fetch.counters["reused_answers"] == 1, "\(fetch.counters)")
            #expect(resumed.stdout.contains("reused_answers=1"), "\(resumed.stdout)")
            #expect(fixture.api.stats().requests - asked == 1, "s2 alone, not s1 again")
            resumeOf = run
        }
    }

    /// One POST per row, its JSON body filled from the row (a number stays a number): the run
    /// stops at the gate, the plan file changes, and the approval replays the recorded plan,
    /// body template included, without asking the API again.
    @Test func aPerItemPostRunFillsEachBodyAndIsApprovedFromItsRecordedPlan() async throws {
        var api = FixtureAPI(
            shape: .itemBody(path: "/v1/score", idKey: "sku"),
            answers: ["s1": .object(["score": 7]), "s2": .object(["score": 9])])
        api.requiredHeader = ("X-Api-Key", "k3y")
        let schema = """
            CREATE TABLE books (id uuid PRIMARY KEY, sku text, pages int, score int);
            INSERT INTO books VALUES ('\(Self.uuid(1))', 's1', 120, NULL), ('\(Self.uuid(2))', 's2', 300, 1),
              ('\(Self.uuid(3))', 'zz', 80, NULL), ('\(Self.uuid(4))', NULL, 10, NULL);
            """
        let fixture = try await Self.vendorFixture(schema: schema, api: api)
        defer { Task { await fixture.tearDown() } }
        let text = Self.vendorPlan(
            sql: "SELECT id AS book_id, sku, pages FROM books ORDER BY id",
            fetch: """
                path: /v1/score
                method: POST
                body: { sku: "{sku}", pages: "{pages}", model: v2 }
                """)
        let fetchKeys = try await fixture.stopEditAndApprove(Array(text.utf8), name: "score.yaml")
        #expect(fetchKeys["max_ids"] == nil && fetchKeys["body"] != nil, "\(fetchKeys.keys.sorted())")
        // The row without a sku was never asked about; the approval asked nothing.
        #expect(fixture.api.stats().requests == 3)
        #expect(
            fixture.api.stats().bodies.first == .object(["sku": "s1", "pages": .int(120), "model": "v2"]),
            "\(fixture.api.stats().bodies)")
        #expect(
            try await fixture.rows("SELECT sku, score FROM books ORDER BY id") == [
                ["s1", "7"], ["s2", "9"], ["zz", nil], [nil, nil],
            ])
    }

    /// An API that writes every number as a double (`3.0`, `1e3`, `2.00`) into integer columns: the
    /// run applies the integers, write-csv's audit trail holds the numbers as the API wrote them,
    /// and `sluice apply` of that file gives the table the same values (it sent the text `3.0`,
    /// which an integer column refuses). `3.5`, edited in, is still refused, at its line.
    @Test func theAuditTrailOfWholeDoublesAppliesBackToTheSameIntegers() async throws {
        var api = FixtureAPI(
            shape: .itemBody(path: "/v1/score", idKey: "sku"),
            answers: [
                "s1": .object(["score": .double(3.0), "level": .double(2.0), "ranks": .array([.double(1.0), 2])]),
                "s2": .object([
                    "score": .decimal("1e3"), "level": .decimal("-2.0E1"), "ranks": .array([.decimal("3.00")]),
                ]),
                "s3": .object(["score": .decimal("2.00"), "level": 7, "ranks": .null]),
            ])
        api.requiredHeader = ("X-Api-Key", "k3y")
        let schema = """
            CREATE DOMAIN level AS int;
            CREATE TABLE books (id uuid PRIMARY KEY, sku text, score int, level level, ranks int[]);
            INSERT INTO books (id, sku) VALUES ('\(Self.uuid(1))', 's1'), ('\(Self.uuid(2))', 's2'), ('\(Self.uuid(3))', 's3');
            """
        let fixture = try await Self.vendorFixture(schema: schema, api: api)
        defer { Task { await fixture.tearDown() } }
        let plan = fixture.directory.appendingPathComponent("scores.yaml")
        try await Files.write(
            Array(
                """
                \(Self.vendorConnections(name: "scores"))
                stages:
                  - { name: query, kind: query, connection: db, sql: "SELECT id AS book_id, sku FROM books ORDER BY id" }
                  - { name: fetch, kind: fetch, connection: vendor, path: /v1/score, method: POST, body: { sku: "{sku}" } }
                  - name: transform
                    kind: transform
                    fields: { book_id: book_id, score: response.score, level: response.level, ranks: response.ranks }
                  - { name: audit, kind: write-csv, path: scores.csv, columns: [book_id, score, level, ranks] }
                  - name: apply
                    kind: apply
                    connection: db
                    table: books
                    key: id
                    key_field: book_id
                    columns: { score: {}, level: {}, ranks: {} }

                """.utf8), to: plan)
        let runs = fixture.directory.appendingPathComponent("runs")
        let ran = try await fixture.run(plan.path)
        #expect(ran.status == 0, "\(ran.stderr)")
        let applied = try await fixture.rows("SELECT sku, score, level, ranks FROM books ORDER BY id")
        #expect(applied == [["s1", "3", "2", "{1,2}"], ["s2", "1000", "-20", "{3}"], ["s3", "2", "7", nil]])
        let csv = try #require(await Files.runs(in: runs).last).directory.appendingPathComponent("scores.csv")
        let written = try await Files.text(csv)
        #expect(written.contains(",3.0,2.0,") && written.contains(",1e3,-2.0E1,"), "\(written)")

        _ = try await fixture.rows("UPDATE books SET score = NULL, level = NULL, ranks = NULL")
        let again = try await fixture.sluice.run(["apply", plan.path, csv.path, "--runs-dir", runs.path, "--yes"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try await fixture.rows("SELECT sku, score, level, ranks FROM books ORDER BY id") == applied)

        // The audit trail edited (`written` with `cell` in place of `old`), applied to a table
        // emptied of what the run applied.
        let applyEdited = { (old: String, cell: String) in
            _ = try await fixture.rows("UPDATE books SET score = NULL, level = NULL, ranks = NULL")
            try await Files.write(Array(written.replacingOccurrences(of: old, with: cell).utf8), to: csv)
            return try await fixture.sluice.run(["apply", plan.path, csv.path, "--runs-dir", runs.path, "--yes"])
        }
        // A fraction is no integer: refused at its line and column, naming the key, nothing changed.
        let refused = try await applyEdited(",2.00,", ",3.5,")
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(
            refused.stderr.contains("\(csv.path):4:") && refused.stderr.contains("'3.5' for book_id \(Self.uuid(3))"),
            "\(refused.stderr)")
        #expect(try await fixture.rows("SELECT count(score) FROM books") == [["0"]])

        // The list in PostgreSQL's spelling, as a person may type it: the same integers; a fraction
        // in it is refused as the lone one is.
        let braces = try await applyEdited("\"[1.0,2]\"", "\"{1.0,2}\"")
        #expect(braces.status == 0, "\(braces.stderr)")
        #expect(try await fixture.rows("SELECT sku, score, level, ranks FROM books ORDER BY id") == applied)
        let fraction = try await applyEdited("\"[1.0,2]\"", "\"{1.5,2}\"")
        #expect(fraction.status == 1, "\(fraction.stderr)")
        #expect(
            fraction.stderr.contains("\(csv.path):2:")
                && fraction.stderr.contains("column 'ranks': '{1.5,2}' for book_id \(Self.uuid(1))")
                && fraction.stderr.contains("invalid input syntax for type integer: \"1.5\""),
            "\(fraction.stderr)")
        #expect(try await fixture.rows("SELECT count(score) FROM books") == [["0"]])
    }

    /// A gate on a paid API's fetch as well as on the apply: the command printed at the fetch
    /// gate approves that gate alone, so the apply still stops for its review.
    @Test func theCommandAtAFetchGateDoesNotAlsoApproveTheApply() async throws {
        let api = FixtureAPI(
            shape: .itemBody(path: "/v1/score", idKey: "sku"), answers: ["s1": .object(["score": 7])])
        let schema = """
            CREATE TABLE books (id uuid PRIMARY KEY, sku text, score int);
            INSERT INTO books VALUES ('\(Self.uuid(1))', 's1', NULL);
            """
        let fixture = try await Self.vendorFixture(schema: schema, api: api)
        defer { Task { await fixture.tearDown() } }
        let plan = fixture.directory.appendingPathComponent("gates.yaml")
        let text = Self.vendorPlan(
            sql: "SELECT id AS book_id, sku FROM books ORDER BY id",
            fetch: "requires_approval: true\npath: /v1/score\nmethod: POST\nbody: { sku: \"{sku}\" }")
        try await Files.write(Array(text.utf8), to: plan)
        let runs = fixture.directory.appendingPathComponent("runs").path

        let atFetch = try await fixture.sluice.run(["run", plan.path, "--runs-dir", runs])
        #expect(atFetch.status == 3, "\(atFetch.stderr)")
        #expect(atFetch.stdout.contains("stage 'fetch' waits for approval"), "\(atFetch.stdout)")
        let command = try #require(
            atFetch.stdout.split(separator: "\n").first { $0.contains("sluice replay") }?
                .trimmingCharacters(in: .whitespaces))
        #expect(command.hasSuffix("--from fetch --approve fetch"), "\(command)")
        #expect(fixture.api.stats().requests == 0)

        // A dry run rolls back an apply, not a paid API's calls: it stops at the fetch's gate too,
        // and the command it prints goes on as a dry run, not on to write.
        let dry = try await fixture.sluice.run(["run", plan.path, "--runs-dir", runs, "--dry-run"])
        #expect(dry.status == 3, "\(dry.stderr)")
        #expect(fixture.api.stats().requests == 0)
        let dryCommand = try #require(
            dry.stdout.split(separator: "\n").first { $0.contains("sluice replay") }?
                .trimmingCharacters(in: .whitespaces))
        #expect(dryCommand.hasSuffix("--from fetch --approve fetch --dry-run"), "\(dryCommand)")
        let dryManifest = try #require(await Files.runs(in: URL(fileURLWithPath: runs)).last?.manifest)
        #expect(dryManifest.resumeCommand?.hasSuffix("--approve fetch --dry-run") == true)
        // Recorded as a dry run, though it stopped before its apply could count one.
        #expect(dryManifest.dryRun && dryManifest.isDryRun)
        #expect(dry.stdout.contains("awaiting-approval (dry run)"), "\(dry.stdout)")
        // A gate misspelt would approve nothing: a usage error, before anything runs.
        let typo = try await fixture.sluice.run(["run", plan.path, "--runs-dir", runs, "--approve", "fetchh"])
        #expect(typo.status == 64, "\(typo.stderr)")
        #expect(typo.stderr.contains("--approve fetchh: the plan has no stage 'fetchh' that needs approval"))
        #expect(fixture.api.stats().requests == 0)

        // Approved and dry-run, it asks the API and rolls the apply back: that run does not
        // count as continuing the one stopped at the gate, which still waits.
        let tried = try await fixture.sluice.run(
            Array(command.split(separator: " ").dropFirst().map(String.init)) + ["--dry-run"])
        #expect(tried.status == 0, "\(tried.stderr)")
        let listed = try await fixture.sluice.run(["runs", "--runs-dir", runs])
        #expect(!listed.stdout.contains("continued by"), "\(listed.stdout)")
        #expect(try await fixture.rows("SELECT score FROM books") == [[nil]])

        let atApply = try await fixture.sluice.run(Array(command.split(separator: " ").dropFirst().map(String.init)))
        #expect(atApply.status == 3, "\(atApply.stderr)")
        #expect(fixture.api.stats().requests == 2)
        #expect(try await fixture.rows("SELECT score FROM books") == [[nil]])
        #expect(atApply.stdout.contains("--from apply --yes"), "\(atApply.stdout)")
    }

    /// Without the User-Agent MusicBrainz requires, the run stops at the first request with the
    /// API's reason, and the side table is untouched.
    @Test func musicBrainzPlanWithoutAUserAgentStopsWithTheReason() async throws {
        var api = FixtureAPI(shape: .perItem(pathPrefix: "/ws/2/isrc/"), answers: [:])
        api.requiresUserAgent = true
        let schema = """
            CREATE TABLE tracks (id uuid PRIMARY KEY, isrc text);
            CREATE TABLE track_musicbrainz (track_id uuid PRIMARY KEY, mbid uuid NOT NULL, length_ms int, recordings int);
            INSERT INTO tracks VALUES ('\(Self.uuid(1))', 'USRC17607839');
            """
        let fixture = try await Fixture.make(schema: schema, api: api) { origin in
            ["MUSICBRAINZ_API_URL": origin + "/ws/2", "MUSICBRAINZ_USER_AGENT": "curl/8.5.0"]
        }
        defer { Task { await fixture.tearDown() } }
        let outcome = try await fixture.run("plans/musicbrainz-isrc.yaml")
        #expect(outcome.status != 0)
        #expect((outcome.stdout + outcome.stderr).contains("User-Agent"), "\(outcome.stdout)")
        #expect(try await fixture.rows("SELECT count(*) FROM track_musicbrainz") == [["0"]])
        #expect(fixture.api.stats().refused == 1)
    }

    /// Open Library: 50 ISBNs a request with the `ISBN:` prefix, an object keyed by them back,
    /// unknown ISBNs absent; ISBNs with dashes normalised, malformed ones never sent.
    @Test func openLibraryPlanUpdatesBooksFromBatchesKeyedByISBN() async throws {
        var answers: [String: Value] = [:]
        var inserts: [String] = []
        for n in 1...60 {
            let isbn = String(format: "978014%07d", n)
            if n % 10 != 0 {
                answers["ISBN:" + isbn] = .object([
                    "title": .string(" Book \(n) "), "number_of_pages": .int(Int64(100 + n)),
                    "publish_date": .string(n % 2 == 0 ? "March \(1980 + n)" : "\(1980 + n)"),
                ])
            }
            let written = n == 7 ? "978-014-000-000-7" : isbn
            inserts.append("('\(Self.uuid(n))', '\(written)', NULL, NULL, NULL, NULL)")
        }
        inserts.append("('\(Self.uuid(61))', 'ISBN?', NULL, NULL, NULL, NULL)")
        inserts.append("('\(Self.uuid(62))', NULL, NULL, NULL, 5, NULL)")
        var api = FixtureAPI(
            shape: .batchObject(path: "/api/books", parameter: "bibkeys", separator: ","), answers: answers)
        api.requiredQuery = ["format": "json", "jscmd": "data"]
        api.requiresUserAgent = true
        let schema = """
            CREATE TABLE books (id uuid PRIMARY KEY, isbn text, title text, ol_title text,
                                ol_pages int CHECK (ol_pages > 0), ol_publish_year int);
            INSERT INTO books VALUES \(inserts.joined(separator: ", "));
            """
        let fixture = try await Fixture.make(schema: schema, api: api) { origin in
            ["OPENLIBRARY_API_URL": origin, "OPENLIBRARY_USER_AGENT": "SluiceTests/1.0 ( tests@example.com )"]
        }
        defer { Task { await fixture.tearDown() } }
        let outcome = try await fixture.run("plans/openlibrary-isbn.yaml", ["--set", "fetch.delay=0.1s"])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)\nstdout: \(outcome.stdout)")
        let books = try await fixture.rows("SELECT id, ol_title, ol_pages, ol_publish_year FROM books ORDER BY id")
        for n in 1...60 {
            let expected: [String?] =
                n % 10 == 0 ? [Self.uuid(n), nil, nil, nil] : [Self.uuid(n), "Book \(n)", "\(100 + n)", "\(1980 + n)"]
            #expect(books[n - 1] == expected, "book \(n)")
        }
        #expect(books[61] == [Self.uuid(62), nil, "5", nil])
        let stats = fixture.api.stats()
        #expect(stats.requests == 2, "60 ISBNs in batches of 50")
        #expect(stats.idsAsked.count == 60)
        #expect(stats.idsAsked.allSatisfy { $0.hasPrefix("ISBN:978014") })
    }
}
