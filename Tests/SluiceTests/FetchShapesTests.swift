import APIFixtureServer
import AsyncHTTPClient
import Foundation
import Logging
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

@testable import Sluice
@testable import SluicePipeline

/// The request shapes, match rules and auth kinds of the fetch stage, each against a real
/// local server that plays the API and enforces its rules.
@Suite struct FetchShapesTests {
    /// After a failure the answers file is recorded as the disk holds it: cut short (a disk that
    /// filled up kept fewer bytes than were written), with its hash on disk and the answers a
    /// resume reads back from it; gone with its run directory, not at all.
    @Test func answersKeptAfterAFailureAreRecordedAsTheDiskHoldsThem() async throws {
        for removed in [false, true] {
            let harness = try await StageHarness(stage: KeepingStage())
            let writer = try FetchAnswers.Writer(runDirectory: harness.runDirectory, stage: "fetch")
            for n in 0..<10 { try await writer.append(id: "id\(n)", .found(.object(["n": .int(Int64(n))]))) }
            try await writer.flush()
            let url = writer.url
            try await BlockingIO.runOnOwnThread {
                if removed {
                    try FileManager.default.removeItem(at: url)
                } else {
                    let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int ?? 0
                    _ = truncate(url.path, off_t(size * 6 / 10))
                }
            }
            await writer.keep(context: harness.context)
            let kept = harness.context.artifacts.filter { $0.kind == "answers" }
            guard !removed else {
                #expect(kept.isEmpty)
                continue
            }
            let readable = await FetchAnswers.load(from: url).count
            #expect(readable > 0 && readable < 10)
            #expect(kept.map(\.rows) == [readable])
            #expect(kept.map(\.sha256) == [try await PrivateFile.sha256(of: url).sha256])
        }
    }

    /// A plan with a query source (never run; `*`, so any field may be named) and `fetch` as written.
    static func fetchStage(_ fetch: String, connection: String, environment: [String: String] = [:]) throws -> any Stage
    {
        let plan = try TestPlans.load(
            """
            version: 1
            name: shapes
            connections:
              db: { kind: postgres, url: "postgresql://127.0.0.1:1/none" }
              api:
            \(connection.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            stages:
              - { name: query, kind: query, connection: db, sql: "SELECT * FROM input" }
              - name: fetch
                kind: fetch
                connection: api
            \(fetch.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            """, environment: environment)
        return try TestPlans.stage("fetch", of: plan)
    }

    static func with<T>(_ api: FixtureAPI, _ body: (FixtureServer, String) async throws -> T) async throws -> T {
        let server = FixtureServer(api: api)
        _ = try await server.start()
        do {
            let result = try await body(server, server.origin!)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    static func recording(_ isrc: String, mbid: String, length: Int) -> Value {
        .object([
            "isrc": .string(isrc),
            "recordings": .array([
                .object(["id": .string(mbid), "title": .string("Song \(isrc)"), "length": .int(Int64(length))])
            ]),
        ])
    }

    /// MusicBrainz's shape: one GET per row with the row's ISRC in the path, a `User-Agent`
    /// naming the app, 404 for an ISRC it does not know.
    @Test func perItemRequestsFillThePathFromTheRowAndCount404AsNotFound() async throws {
        var api = FixtureAPI(
            shape: .perItem(pathPrefix: "/ws/2/isrc/"),
            answers: [
                "USRC17607839": Self.recording(
                    "USRC17607839", mbid: "b1a9c0e9-d987-4042-ae91-78d6a3267d69", length: 207_000),
                "GBAYE0601498": Self.recording(
                    "GBAYE0601498", mbid: "c4fb3f5c-3f54-4e7c-9d9d-1d5c5d0b1a11", length: 181_000),
            ])
        api.requiresUserAgent = true
        api.requiredQuery = ["fmt": "json"]
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                """
                path: /isrc/{isrc}
                query: { fmt: json }
                """,
                connection: """
                    kind: http
                    base_url: \(origin)/ws/2
                    headers: { User-Agent: "SluiceTests/1.0 ( tests@example.com )" }
                    """)
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(
                columns: ["track_id", "isrc"],
                rows: [
                    ["t1", "USRC17607839"], ["t2", "ZZZZZ9999999"], ["t3", .null], ["t4", "GBAYE0601498"],
                    ["t5", "a/b?c"],
                ])
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.map { $0["track_id"] } == ["t1", "t4"])
            #expect(got[0]["response"]?["recordings"] == api.answers["USRC17607839"]?["recordings"])
            #expect(harness.counters["requests"] == 4)
            #expect(harness.counters["not_found"] == 2)
            #expect(harness.counters["missing_id"] == 1)
            // A rejected row is named by the field its request filled in, not by the request.
            let rejects = try await FetchStageTests.rejects(harness)
            #expect(
                rejects.contains {
                    $0.hasPrefix(
                        "fetch,not_found,isrc,ZZZZZ9999999,the API does not know this id (404: Not Found) (request /isrc/ZZZZZ9999999?fmt=json),"
                    )
                }, "\(rejects)")
            let stats = server.stats()
            #expect(stats.refused == 0)
            // The id with '/' and '?' stayed one path segment.
            #expect(stats.idsAsked == ["USRC17607839", "ZZZZZ9999999", "GBAYE0601498", "a/b?c"])
            #expect(stats.seenURLs.allSatisfy { $0.hasSuffix("?fmt=json") })
            // The connection's User-Agent, not sluice's own.
            #expect(stats.userAgents.allSatisfy { $0 == "SluiceTests/1.0 ( tests@example.com )" })
        }
    }

    /// One request per row: the answers are written down every few rows as their requests
    /// end, not when a query's batch of a thousand rows does, so a run stopped halfway is
    /// resumed without asking again what was answered.
    /// A row's value that would be a path segment of its own, `.` or `..`, is sent with its dots
    /// encoded: the request asks for that item, not for the path above it.
    @Test func aDotSegmentFromARowIsSentEncoded() throws {
        let stage = try #require(
            try Self.fetchStage(
                "path: /item/{sku}\nquery: { v: \"{sku}\" }", connection: "kind: http\nbase_url: http://127.0.0.1:9")
                as? FetchStage)
        let keys = try RequestKeys(settings: stage.settings, columns: ["sku"], idPattern: nil)
        func key(_ sku: String) -> String? {
            if case .key(let key, _) = keys.key(for: [.string(sku)]) { return key }
            return nil
        }
        #expect(key("..") == "/item/%2E%2E?v=%2E%2E")
        #expect(key(".") == "/item/%2E?v=%2E")
        #expect(key("a..b") == "/item/a..b?v=a..b")
        #expect(key("../admin") == "/item/..%2Fadmin?v=..%2Fadmin")
    }

    @Test func perItemAnswersAreWrittenDownAsTheyComeNotPerBatch() async throws {
        let count = 40
        var api = FixtureAPI(
            shape: .perItem(pathPrefix: "/item/"),
            answers: Dictionary(
                uniqueKeysWithValues: (0..<count).map { ("ID\($0)", Value.object(["n": .int(Int64($0))])) }))
        // 4 s of answers in all: the file is read while they come, on a loaded machine too.
        api.latency = .milliseconds(100)
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage("path: /item/{isrc}", connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(
                columns: ["track_id", "isrc"], rows: (0..<count).map { [.string("t\($0)"), .string("ID\($0)")] })
            let file = harness.runDirectory.appendingPathComponent(FetchAnswers.fileName(stage: "fetch"))
            async let fetched = harness.run(stage, input: [batch])
            var firstSeen = 0
            #expect(
                try await eventually {
                    firstSeen = ((try? await text(of: file)) ?? "").split(separator: "\n").count
                    return firstSeen > 0
                })
            #expect(firstSeen < count, "answers appear as pieces end, not all with the batch")
            #expect(rows(try await fetched).count == count)
            #expect(server.stats().requests == count)
        }
    }

    /// A lookup API that takes one JSON object per record: the body is filled from each row, a
    /// number stays a number, other braces are sent as written, a row whose field is empty is
    /// never asked about, and 404 is "not found".
    @Test func perItemPostsFillTheBodyFromEachRow() async throws {
        let api = FixtureAPI(
            shape: .itemBody(path: "/lookup", idKey: "isbn"),
            answers: [
                "0451526538": .object(["title": "The Adventures of Tom Sawyer"]),
                "9780140449136": .object(["title": "Crime and Punishment"]),
            ])
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                """
                path: /lookup
                method: POST
                body: { isbn: "{isbn}", year: "{year}", note: "ISBN {isbn} ({year})", fields: [title], raw: '{{isbn}} {"k": 1}', zip: "{zip?}" }
                """,
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(
                columns: ["book_id", "isbn", "year", "zip"],
                rows: [
                    ["b1", "0451526538", .int(1876), .null], ["b2", "0000000000", .int(2000), .int(10115)],
                    ["b3", .null, .int(1999), .null], ["b4", "9780140449136", .null, .null],
                    ["b5", "9780140449136", .int(1866), .null],
                ])
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.map { $0["book_id"] } == ["b1", "b5"])
            #expect(got[1]["response"]?["title"] == "Crime and Punishment")
            let stats = server.stats()
            #expect(stats.idsAsked == ["0451526538", "0000000000", "9780140449136"])
            #expect(
                stats.bodies.first
                    == .object([
                        "isbn": "0451526538", "year": .int(1876), "note": "ISBN 0451526538 (1876)",
                        "fields": .array(["title"]), "raw": "{isbn} {\"k\": 1}", "zip": .null,
                    ]))
            // An optional field sends null when empty, its value otherwise.
            #expect(stats.bodies.dropFirst().first?["zip"] == .int(10115))
            #expect(harness.counters["requests"] == 3)
            #expect(harness.counters["not_found"] == 1)
            #expect(harness.counters["missing_id"] == 2)
            let rejects = try await FetchStageTests.rejects(harness)
            // Two fields fill the body: the row is named by its request, the body after the URL
            // (its keys in the plan's order, as sent).
            #expect(
                rejects.contains {
                    $0.hasPrefix(
                        "fetch,not_found,fetch request,\"/lookup {\"\"isbn\"\":\"\"0000000000\"\",\"\"year\"\":2000,")
                },
                "\(rejects)")
            #expect(
                rejects.contains {
                    $0.hasPrefix("fetch,missing_id,year,,\"the request needs {year}, which is empty in this row\",")
                },
                "\(rejects)")
        }
    }

    /// 422, what JSON APIs answer for input they cannot process, refuses that row alone, with
    /// the API's message, as 400 does.
    @Test func anUnprocessableRowIsRejectedAlone() async throws {
        var api = FixtureAPI(
            shape: .itemBody(path: "/geocode", idKey: "street"),
            answers: ["1 Main St": .object(["lat": 1.5]), "3 Oak St": .object(["lat": 3.5])])
        api.unprocessable = ["???"]
        try await Self.with(api) { _, origin in
            let stage = try Self.fetchStage(
                "path: /geocode\nmethod: POST\nbody: { street: \"{street}\" }",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(columns: ["street"], rows: [["1 Main St"], ["???"], ["3 Oak St"]])
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.map { $0["street"] } == ["1 Main St", "3 Oak St"])
            let rejects = try await FetchStageTests.rejects(harness)
            #expect(
                rejects.contains {
                    $0.hasPrefix(
                        "fetch,invalid_id,street,???,\"the API refused this id: street ??? is not valid (request")
                },
                "\(rejects)")
        }
    }

    /// An id the API always fails on (500 after every retry, or a 200 whose body is not JSON)
    /// stops the fetch, resumably; with `on_give_up: reject` it is rejected with the last error
    /// and the other rows go on.
    @Test(arguments: [false, true], [false, true])
    func anIDTheAPIAlwaysFailsOnIsRejectedWhenThePlanSaysSo(reject: Bool, garbled: Bool) async throws {
        var api = FixtureAPI(
            shape: .itemBody(path: "/geocode", idKey: "street"),
            answers: ["1 Main St": .object(["lat": 1.5]), "3 Oak St": .object(["lat": 3.5])])
        if garbled { api.garbled = ["2 Bad St"] } else { api.failing = ["2 Bad St"] }
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                "path: /geocode\nmethod: POST\nbody: { street: \"{street}\" }\nretries: 1\nbackoff: 0.01s"
                    + (reject ? "\non_give_up: reject" : ""),
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(columns: ["street"], rows: [["1 Main St"], ["2 Bad St"], ["3 Oak St"]])
            guard reject else {
                let error = await #expect(throws: (any Error).self) { try await harness.run(stage, input: [batch]) }
                #expect("\(error.map { "\($0)" } ?? "")".contains("gave up after 2 attempts"))
                return
            }
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.map { $0["street"] } == ["1 Main St", "3 Oak St"])
            #expect(harness.counters["gave_up"] == 1)
            #expect(server.stats().idsAsked.filter { $0 == "2 Bad St" }.count == 2, "asked, then retried once")
            // Rejected as given up on (not as an id the API refused: nothing was said of it), and
            // not kept among the answers, so that a resume asks again.
            #expect(harness.counters["rejected"] == 0)
            let rejects = try await FetchStageTests.rejects(harness)
            #expect(
                rejects.contains {
                    $0.hasPrefix("fetch,gave_up,") && $0.contains("2 Bad St") && $0.contains("gave up after 2 attempts")
                        && $0.contains("says nothing of the id")
                        && $0.contains(garbled ? "HTTP 200 with a body that is not valid JSON" : "HTTP 500")
                },
                "\(rejects)")
            let answers = try await text(
                of: harness.runDirectory.appendingPathComponent(FetchAnswers.fileName(stage: "fetch")))
            #expect(answers.contains("1 Main St") && !answers.contains("2 Bad St"), "\(answers)")
        }
    }

    /// One id whose answer cannot be decompressed (`Content-Encoding: gzip` over a body that is
    /// not gzip) is a bad answer: retried, then rejected with `on_give_up: reject` while the other
    /// rows go on; it stopped the whole run as a failed connection.
    @Test func anIDWhoseAnswerCannotBeDecompressedIsRejectedWhenThePlanSaysSo() async throws {
        var api = FixtureAPI(
            shape: .itemBody(path: "/geocode", idKey: "street"),
            answers: ["1 Main St": .object(["lat": 1.5]), "3 Oak St": .object(["lat": 3.5])])
        api.notGzip = ["2 Bad St"]
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                "path: /geocode\nmethod: POST\nbody: { street: \"{street}\" }\nretries: 1\nbackoff: 0.01s\n"
                    + "on_give_up: reject",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(columns: ["street"], rows: [["1 Main St"], ["2 Bad St"], ["3 Oak St"]])
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.map { $0["street"] } == ["1 Main St", "3 Oak St"])
            #expect(harness.counters["gave_up"] == 1)
            #expect(server.stats().idsAsked.filter { $0 == "2 Bad St" }.count == 2, "asked, then retried once")
            let rejects = try await FetchStageTests.rejects(harness)
            #expect(
                rejects.contains {
                    $0.hasPrefix("fetch,gave_up,") && $0.contains("2 Bad St")
                        && $0.contains(
                            "the answer could not be decompressed: its body is not the compressed data "
                                + "Content-Encoding: gzip says (zlib error -3)")
                },
                "\(rejects)")
        }
    }

    /// `on_give_up: reject` is for ids the API always fails on: an API that fails every request
    /// of several answered nothing, and the fetch stops resumably instead of passing on no rows
    /// as a success; what it set aside is in the rejects file.
    @Test func anAPIThatFailsEveryRequestStopsTheFetchEvenWhenGivingUpRejects() async throws {
        var api = FixtureAPI(shape: .itemBody(path: "/geocode", idKey: "street"), answers: [:])
        api.failing = ["1 Main St", "2 Bad St", "3 Oak St"]
        try await Self.with(api) { _, origin in
            let stage = try Self.fetchStage(
                "path: /geocode\nmethod: POST\nbody: { street: \"{street}\" }\nretries: 0\non_give_up: reject",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(columns: ["street"], rows: [["1 Main St"], ["2 Bad St"], ["3 Oak St"]])
            let error = await #expect(throws: FetchError.self) { try await harness.run(stage, input: [batch]) }
            #expect(error?.isResumable == true)
            #expect(
                error?.message.contains("the API answered none of the 3 ids: all 3 requests gave up") == true,
                "\(String(describing: error))")
            #expect(harness.output.collected.isEmpty)
            #expect(try await FetchStageTests.rejects(harness).filter { $0.hasPrefix("fetch,gave_up,") }.count == 3)
        }
    }

    /// A batch the API always fails on rejects every id in it (it cannot tell which one breaks it).
    @Test func aBatchTheAPIAlwaysFailsOnIsRejectedWhole() async throws {
        var api = FixtureAPI(
            shape: .batchList(path: "/v1/lookup", bodyKey: "ids", resultsKey: "results"),
            answers: ["a": .object(["id": "a"]), "b": .object(["id": "b"])])
        api.failing = ["b"]
        try await Self.with(api) { _, origin in
            let stage = try Self.fetchStage(
                Self.lookupFetch + "\nitems_key: results\nretries: 0\non_give_up: reject",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Batch(columns: ["v"], rows: [["a"], ["b"]])]))
            #expect(got.isEmpty)
            #expect(harness.counters["gave_up"] == 2)
            #expect(
                try await FetchStageTests.rejects(harness).filter { $0.contains("gave up after 1 attempt") }.count == 2)
        }
    }

    /// An API that takes its key in the JSON body: `auth` adds it as each request leaves, so
    /// it reaches the API but no request key, answers file, rejects file or notice.
    @Test func aKeyInTheBodyIsSentButNeverWritten() async throws {
        var api = FixtureAPI(
            shape: .itemBody(path: "/geocode", idKey: "street"), answers: ["1 Main St": .object(["lat": 1.5])])
        api.requiredBodyField = ("key", "gk-PRIVATE-999")
        api.echoesCredentials = true
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                "path: /geocode\nmethod: POST\nbody: { street: \"{street}\", city: \"{city}\" }",
                connection:
                    "kind: http\nbase_url: \(origin)\nauth: { kind: api-key, body_field: key, key: \"${GEO}\" }",
                environment: ["GEO": "gk-PRIVATE-999"])
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(
                columns: ["street", "city"], rows: [["1 Main St", "Springfield"], ["2 Elm St", "Shelbyville"]])
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.map { $0["response"]?["lat"] } == [.double(1.5)])
            #expect(server.stats().refused == 0)
            #expect(
                server.stats().bodies.first
                    == .object(["street": "1 Main St", "city": "Springfield", "key": "gk-PRIVATE-999"]))
            for file in try await harness.files() {
                let text = (try? await text(of: harness.runDirectory.appendingPathComponent(file))) ?? ""
                #expect(!text.contains("gk-PRIVATE"), "\(file) holds the key")
            }
            #expect(!harness.notices.contains { $0.contains("gk-PRIVATE") })
            // The API's 404 repeated the key: the rejection keeps its message, not the key.
            let rejects = try await FetchStageTests.rejects(harness)
            #expect(rejects.contains { $0.contains("you sent key: ") }, "\(rejects)")

            // `--log-level debug` shows each request's body, as the plan made it: without the key.
            let configuration = try #require(stage as? FetchStage).configuration
            let capture = LogCapture()
            var logger = capture.logger
            logger.logLevel = .debug
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            let fetcher = HTTPFetcher(configuration: configuration, httpClient: client, logger: logger)
            _ = try? await fetcher.fetch(ids: [#"/geocode\#n{"city":"Springfield","street":"1 Main St"}"#])
            try await client.shutdown()
            let exchange = capture.records.first { $0.message == "HTTP exchange" }
            #expect(exchange?.metadata.contains(#"http.body={"city":"Springfield","street":"1 Main St"}"#) == true)
            #expect(!capture.fullText.contains("gk-PRIVATE"), "\(capture.fullText)")
        }
    }

    /// A per-item POST's answers are keyed by the request, body included: a resumed run asks
    /// only for the rows it has no answer for, and two rows with the same URL but different
    /// bodies are two requests.
    @Test func perItemPostAnswersAreReusedByTheirBody() async throws {
        let api = FixtureAPI(
            shape: .itemBody(path: "/lookup", idKey: "code"),
            answers: ["1": .object(["n": .int(1)]), "2": .object(["n": .int(2)]), "3": .object(["n": .int(3)])])
        try await Self.with(api) { server, origin in
            let plan = (
                "path: /lookup\nmethod: POST\nbody: { code: \"{code}\" }",
                connection: "kind: http\nbase_url: \(origin)"
            )
            let first = try Self.fetchStage(plan.0, connection: plan.connection)
            let firstRun = try await StageHarness(stage: first)
            let codes = Batch(columns: ["code"], rows: [[.int(1)], [.int(2)], [.int(4)]])
            #expect(rows(try await firstRun.run(first, input: [codes])).count == 2)
            #expect(server.stats().idsAsked == ["1", "2", "4"])

            var second = try #require(try Self.fetchStage(plan.0, connection: plan.connection) as? FetchStage)
            second.previousAnswers = firstRun.runDirectory.appendingPathComponent(
                FetchAnswers.fileName(stage: "fetch"))
            let secondRun = try await StageHarness(stage: second)
            let more = Batch(columns: ["code"], rows: [[.int(1)], [.int(2)], [.int(3)], [.int(4)]])
            let got = rows(try await secondRun.run(second, input: [more]))
            #expect(got.map { $0["response"]?["n"] } == [.int(1), .int(2), .int(3)])
            #expect(server.stats().idsAsked == ["1", "2", "4", "3"])
            // The reused "not found" still says what the API said.
            let rejects = try await FetchStageTests.rejects(secondRun)
            #expect(
                rejects.contains { $0.contains("the API does not know this id (404: no record for code 4)") },
                "\(rejects)")
            #expect(!secondRun.notices.contains { $0.contains("answers a request of this run") })

            // Asked with another body, none of the recorded answers is one: said, not claimed reused.
            let other = "path: /lookup\nmethod: POST\nbody: { code: \"{code}\", v: 2 }"
            var third = try #require(try Self.fetchStage(other, connection: plan.connection) as? FetchStage)
            third.previousAnswers = second.previousAnswers
            let thirdRun = try await StageHarness(stage: third)
            _ = try await thirdRun.run(third, input: [codes])
            #expect(server.stats().idsAsked.count == 7)
            #expect(
                thirdRun.notices.contains {
                    $0.contains("none of the 3 answers recorded in ") && $0.contains("every id was asked again")
                }, "\(thirdRun.notices)")
        }
    }

    /// A fetch that stops partway (here the API answers one request, then 503s, and retries run out) writes down
    /// every answer it had, not only those of the pieces that ended: a resume asks only for the
    /// rest. Before, the answers of a piece's first rows were lost with the piece, and with
    /// several pieces in flight, those of the others too.
    @Test(arguments: [1, 3])
    func aFetchThatStopsKeepsEveryAnswerItHad(concurrency: Int) async throws {
        var api = FixtureAPI(
            shape: .itemBody(path: "/lookup", idKey: "code"),
            answers: ["1": .object(["n": .int(1)]), "2": .object(["n": .int(2)]), "3": .object(["n": .int(3)])])
        api.minInterval = .seconds(60)
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                "path: /lookup\nmethod: POST\nbody: { code: \"{code}\" }\nretries: 0\nconcurrency: \(concurrency)\ndelay: 0.5s",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(columns: ["code"], rows: (1...30).map { [.int(Int64($0))] })
            let error = await #expect(throws: (any Error).self) { _ = try await harness.run(stage, input: [batch]) }
            #expect(server.stats().answered == 1)
            // Every request has the same URL: the error names the row by its body.
            let message = error.map { "\($0)" } ?? ""
            #expect(message.contains(#"(request body {"code":"#), "\(message)")
            let file = harness.runDirectory.appendingPathComponent(FetchAnswers.fileName(stage: "fetch"))
            let lines = try await text(of: file).split(separator: "\n")
            // The first request is answered at once, the next one (0.5 s later) refused.
            #expect(lines.count == 1, "\(lines)")
            // Recorded as the stopped stage's output: the run says how many answers it kept.
            #expect(harness.artifacts("answers") == [file])
        }
    }

    /// Per item, an answer without `items_key` is "not found" and says so; when the first
    /// answers all lack it, the plan reads the wrong key, and the fetch stops naming the keys
    /// they have rather than take every id for unknown.
    @Test func perItemAnswersWithoutTheItemsKeyStopTheFetchWhenNoneHasIt() async throws {
        let answers = Dictionary(
            uniqueKeysWithValues: (1...8).map { ("\($0)", Value.object(["data": .object(["n": .int(Int64($0))])])) })
        let api = FixtureAPI(shape: .itemBody(path: "/lookup", idKey: "code"), answers: answers)
        try await Self.with(api) { server, origin in
            let wrong = try Self.fetchStage(
                "path: /lookup\nmethod: POST\nbody: { code: \"{code}\" }\nitems_key: result",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: wrong)
            let batch = Batch(columns: ["code"], rows: (1...8).map { [.string("\($0)")] })
            let error = await #expect(throws: (any Error).self) { _ = try await harness.run(wrong, input: [batch]) }
            let message = error.map { "\($0)" } ?? ""
            #expect(message.contains("the first 5 answers have no 'result' (the last has: data)"), "\(message)")
            #expect(server.stats().requests == 5)

            // Read right, an answer that lacks the key is one id not found, with the reason.
            var mixed = api
            mixed.answers["3"] = .object(["error": "gone"])
            try await Self.with(mixed) { _, origin in
                let right = try Self.fetchStage(
                    "path: /lookup\nmethod: POST\nbody: { code: \"{code}\" }\nitems_key: data",
                    connection: "kind: http\nbase_url: \(origin)")
                let harness = try await StageHarness(stage: right)
                #expect(rows(try await harness.run(right, input: [batch])).count == 7)
                let rejects = try await FetchStageTests.rejects(harness)
                #expect(
                    rejects.contains { $0.contains("(its answer has no 'data'; it has: error)") }, "\(rejects)")
            }
        }
    }

    /// Without an `id` expression, `{id}` is the row's field `id`; a field with a dash in its
    /// name fills a body too.
    @Test func idIsTheRowsFieldWhenTheStageSetsNoExpression() async throws {
        let api = FixtureAPI(shape: .perItem(pathPrefix: "/items/"), answers: ["7": .object(["n": .int(7)])])
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage("path: /items/{id}", connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Batch(columns: ["id"], rows: [[.int(7)]])]))
            #expect(got.first?["response"]?["n"] == .int(7))
            #expect(server.stats().idsAsked == ["7"])
        }
        let posted = FixtureAPI(shape: .itemBody(path: "/lookup", idKey: "code"), answers: ["a1": .object([:])])
        try await Self.with(posted) { server, origin in
            let stage = try Self.fetchStage(
                "path: /lookup\nmethod: POST\nbody: { code: \"{track-id}\" }",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            _ = try await harness.run(stage, input: [Batch(columns: ["track-id"], rows: [["a1"]])])
            #expect(server.stats().bodies == [.object(["code": "a1"])])
        }
    }

    /// The same request on many rows (one address, one label) is sent once, whichever piece of
    /// rows it falls in and however many pieces are in flight, and every row gets its answer.
    @Test(arguments: [1, 4, 16])
    func aRepeatedPerItemRequestIsSentOnce(concurrency: Int) async throws {
        let labels = (0..<5).map { "row \($0)" }
        let api = FixtureAPI(
            shape: .itemBody(path: "/classify", idKey: "label"),
            answers: Dictionary(uniqueKeysWithValues: labels.map { ($0, Value.object(["class": .string($0)])) }))
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                "path: /classify\nmethod: POST\nbody: { label: \"{label}\" }\nconcurrency: \(concurrency)",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(
                columns: ["n", "label"], rows: (0..<200).map { [.int(Int64($0)), .string(labels[$0 % 5])] })
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.map { $0["n"] } == (0..<200).map { .int(Int64($0)) })
            #expect(got.allSatisfy { $0["response"]?["class"] == $0["label"] })
            #expect(server.stats().requests == 5)
        }
    }

    /// The answers kept for repeats are the latest, at most as many as the capacity.
    @Test func recentAnswersForgetTheOldestFirst() {
        var recent = RecentAnswers(capacity: 3)
        for i in 0..<10 { recent.remember(ExactText("k\(i)"), .found(.int(Int64(i)))) }
        #expect((0..<7).allSatisfy { recent[ExactText("k\($0)")] == nil })
        #expect((7..<10).allSatisfy { recent[ExactText("k\($0)")] == .found(.int(Int64($0))) })
        var none = RecentAnswers(capacity: 0)
        none.remember(ExactText("k"), .notFound(because: nil))
        #expect(none[ExactText("k")] == nil)
    }

    /// A placeholder the rows lack stops the stage before any request, naming where it is
    /// written: the path, or the query parameter.
    @Test func aPlaceholderTheRowsLackIsNamedWhereItIsWritten() async throws {
        let stage = try Self.fetchStage(
            "path: /isrc/{isrc}\nquery: { fmt: json, track: \"{track}\" }",
            connection: "kind: http\nbase_url: http://127.0.0.1:9")
        let harness = try await StageHarness(stage: stage)
        let batch = Batch(columns: ["track_id", "isrc"], rows: [["t1", "USRC17607839"]])
        let error = await #expect(throws: (any Error).self) { _ = try await harness.run(stage, input: [batch]) }
        let message = "\(error.map { "\($0)" } ?? "")"
        #expect(
            message.contains("{track} in query parameter 'track' ('{track}'): the input has no field 'track'"),
            "\(message)")
        #expect(harness.counters["requests"] == nil || harness.counters["requests"] == 0)
    }

    /// Without the `User-Agent` MusicBrainz insists on, the API forbids every request: the
    /// stage stops with that message rather than rejecting rows one by one.
    @Test func aForbiddenPerItemRequestStopsTheStageWithTheAPIsReason() async throws {
        var api = FixtureAPI(shape: .perItem(pathPrefix: "/ws/2/isrc/"), answers: [:])
        api.requiresUserAgent = true
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                "path: /isrc/{isrc}", connection: "kind: http\nbase_url: \(origin)/ws/2")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(columns: ["isrc"], rows: [["USRC17607839"]])
            let error = await #expect(throws: (any Error).self) { try await harness.run(stage, input: [batch]) }
            #expect("\(error!)".contains("User-Agent"))
            #expect(server.stats().refused == 1)
        }
    }

    /// A rate-limited API that answers 503 when asked too fast: the whole host waits, the rows
    /// all arrive, and no two answered requests are closer than the API allows. Nothing paces
    /// the requests and the API wants 2 s between them, so the 503s come however busy the machine.
    @Test func a503ListedAsThrottlingIsBackedOffUntilEveryRowIsAnswered() async throws {
        var api = FixtureAPI(
            shape: .perItem(pathPrefix: "/ws/2/isrc/"),
            answers: Dictionary(
                uniqueKeysWithValues: (0..<3).map { ("ISRC\($0)", Value.object(["n": .int(Int64($0))])) }))
        api.minInterval = .seconds(2)
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                """
                path: /isrc/{isrc}
                throttle_statuses: [503]
                backoff: 1s
                max_backoff: 2s
                retries: 20
                """,
                connection: "kind: http\nbase_url: \(origin)/ws/2")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(columns: ["isrc"], rows: (0..<3).map { [.string("ISRC\($0)")] })
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.count == 3)
            let stats = server.stats()
            #expect(stats.throttled > 0)
            #expect(harness.counters["throttled"] == stats.throttled)
            #expect(harness.counters["http_429"] == 0)
            let gaps = zip(stats.answeredAt.dropFirst(), stats.answeredAt).map { $0 - $1 }
            #expect(gaps.allSatisfy { $0 >= 1.98 }, "\(gaps)")
        }
    }

    /// Open Library's shape: many ids in one query parameter, each with a prefix, answered by an
    /// object keyed by the ids sent; unknown ids are simply absent. Whatever the separator, the
    /// server reads the ids as sent: a `|` or a space is encoded once, with the ids' `:`, not twice.
    @Test(arguments: [",", "|", " ", ";"])
    func batchAnswersKeyedByPrefixedIDMatchEachRow(separator: String) async throws {
        var api = FixtureAPI(
            shape: .batchObject(path: "/api/books", parameter: "bibkeys", separator: separator),
            answers: [
                "ISBN:0451526538": .object(["title": "The adventures of Tom Sawyer", "number_of_pages": 216]),
                "ISBN:9780140328721": .object(["title": "Fantastic Mr. Fox", "number_of_pages": 96]),
            ])
        api.requiredQuery = ["format": "json"]
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                """
                path: /api/books
                id: isbn
                ids_param: bibkeys
                id_separator: "\(separator)"
                id_prefix: "ISBN:"
                match: object_keys
                query: { format: json, jscmd: data }
                """,
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(
                columns: ["book_id", "isbn"],
                rows: [["b1", "9780140328721"], ["b2", "0000000000"], ["b3", "0451526538"]])
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.map { $0["book_id"] } == ["b1", "b3"])
            #expect(got[0]["response"]?["title"] == "Fantastic Mr. Fox")
            #expect(got[1]["response"]?["number_of_pages"] == 216)
            #expect(harness.counters["requests"] == 1)
            #expect(harness.counters["not_found"] == 1)
            #expect(server.stats().idsAsked == ["ISBN:9780140328721", "ISBN:0000000000", "ISBN:0451526538"])
            // A connection without headers names its client all the same (some APIs refuse
            // a request that does not).
            #expect(server.stats().userAgents == ["sluice/\(SluiceVersion.current)"])
        }
    }

    /// A path that carries a query of its own (`?format=json`): the ids parameter and the plan's
    /// `query` follow it after `&`, not a second `?` that would make them part of its value; batch
    /// and per item alike.
    @Test func aPathWithAQueryOfItsOwnKeepsTheOtherParameters() async throws {
        var books = FixtureAPI(
            shape: .batchObject(path: "/api/books", parameter: "bibkeys", separator: ","),
            answers: ["0451526538": .object(["title": "Tom Sawyer"])])
        books.requiredQuery = ["format": "json", "jscmd": "data"]
        try await Self.with(books) { server, origin in
            let stage = try Self.fetchStage(
                """
                path: /api/books?format=json
                id: isbn
                ids_param: bibkeys
                match: object_keys
                query: { jscmd: data }
                """,
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(columns: ["book_id", "isbn"], rows: [["b1", "0451526538"], ["b2", "0000000000"]])
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.map { $0["book_id"] } == ["b1"])
            #expect(got.first?["response"]?["title"] == "Tom Sawyer")
            #expect(server.stats().seenURLs == ["/api/books?format=json&bibkeys=0451526538,0000000000&jscmd=data"])
        }
        var items = FixtureAPI(
            shape: .perItem(pathPrefix: "/item/"), answers: ["a1": .object(["n": 1]), "a 2": .object(["n": 2])])
        items.requiredQuery = ["fmt": "json", "a": "b"]
        try await Self.with(items) { server, origin in
            let stage = try Self.fetchStage(
                """
                path: "/item/{item}?fmt=json"
                query: { a: b }
                """,
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(columns: ["item"], rows: [["a1"], ["a 2"]])
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.map { $0["response"]?["n"] } == [1, 2])
            #expect(server.stats().seenURLs.sorted() == ["/item/a%202?fmt=json&a=b", "/item/a1?fmt=json&a=b"])
        }
    }

    /// An API that compresses its answers (asked to by the connection's `Accept-Encoding`, or
    /// unasked): gzip and deflate bodies are decompressed and read as the JSON they hold, each
    /// answered at the first request.
    @Test(arguments: ["gzip", "deflate"])
    func compressedAnswersAreDecompressed(encoding: String) async throws {
        var api = FixtureAPI(
            shape: .batchObject(path: "/api/books", parameter: "ids", separator: ","),
            answers: ["0451526538": .object(["title": "Tom Sawyer"]), "9780140328721": .object(["title": "Fox"])])
        api.contentEncoding = encoding
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                "path: /api/books\nid: isbn\nmatch: object_keys",
                connection: "kind: http\nbase_url: \(origin)\nheaders: { Accept-Encoding: gzip }")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(
                columns: ["book_id", "isbn"], rows: [["b1", "9780140328721"], ["b2", "nope"], ["b3", "0451526538"]])
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.map { $0["response"]?["title"] } == ["Fox", "Tom Sawyer"])
            #expect(harness.counters["requests"] == 1)
            #expect(server.stats().requests == 1)
        }
    }

    /// A small compressed answer that would expand past the most a body may hold (a
    /// decompression bomb) fails as a body too large: decompressed no further than that, and
    /// not asked for again (each retry downloaded the same answer again). A timeout long enough
    /// for a loaded machine to read it (the 30 s default was not, with load 20 on 2 cores).
    @Test func aCompressedAnswerExpandingPastTheBodyLimitIsTooLarge() async throws {
        var api = FixtureAPI(shape: .batchObject(path: "/api/books", parameter: "ids", separator: ","), answers: [:])
        // 65 MiB of JSON white space: built as bytes, it takes no time to make (the JSON of a
        // 65 MiB string took long enough on a loaded machine for the request to time out).
        api.rawBody = Array("{\"0451526538\": \"x\"}".utf8) + [UInt8](repeating: UInt8(ascii: " "), count: 65 << 20)
        api.contentEncoding = "gzip"
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                "path: /api/books\nid: isbn\nmatch: object_keys\nretries: 2\nbackoff: 0s\ntimeout: 300s",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(columns: ["isbn"], rows: [["0451526538"]])
            let error = await #expect(throws: (any Error).self) { try await harness.run(stage, input: [batch]) }
            #expect(
                "\(error!)".contains(
                    "response body larger than 67108864 bytes (decompressed, if it came compressed); not retried; a "
                        + "batch of fewer ids has a smaller answer: lower max_ids (now 50)"), "\(error!)")
            #expect(server.stats().requests == 1)
        }
    }

    /// An answer naming one id twice with different values: the id is rejected as ambiguous, not
    /// given the last value; an id named once is used.
    @Test func anIDAnObjectKeysAnswerNamesTwiceIsRejectedAsAmbiguous() async throws {
        var api = FixtureAPI(shape: .batchObject(path: "/api/books", parameter: "ids", separator: ","), answers: [:])
        api.rawBody = Array(#"{"ISBN:a":{"title":"A"},"ISBN:b":{"title":"B"},"ISBN:a":{"title":"A2"}}"#.utf8)
        try await Self.with(api) { _, origin in
            let stage = try Self.fetchStage(
                "path: /api/books\nid: isbn\nid_prefix: \"ISBN:\"\nmatch: object_keys",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(columns: ["isbn"], rows: [["a"], ["b"]])
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.map { $0["response"]?["title"] } == ["B"])
            #expect(harness.counters["ambiguous"] == 1)
            let rejects = try await FetchStageTests.rejects(harness)
            #expect(
                rejects.contains {
                    $0.hasPrefix("fetch,ambiguous_answer,fetch id (isbn),a,")
                        && $0.contains("names this id (\"\"ISBN:a\"\") twice with different values")
                },
                "\(rejects)")
        }
    }

    /// A lone surrogate escaped in an answer (`"\\ud800"`) is refused like invalid UTF-8, at its
    /// byte: it was read as U+FFFD, changing the data with no notice.
    @Test func anAnswerWithALoneSurrogateIsNotValidJSON() async throws {
        var api = FixtureAPI(shape: .batchObject(path: "/api/books", parameter: "ids", separator: ","), answers: [:])
        api.rawBody = Array(#"{"a":{"title":"x\udc00"}}"#.utf8)
        try await Self.with(api) { _, origin in
            let stage = try Self.fetchStage(
                "path: /api/books\nid: isbn\nmatch: object_keys\nretries: 0",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(columns: ["isbn"], rows: [["a"]])
            let error = await #expect(throws: (any Error).self) { try await harness.run(stage, input: [batch]) }
            #expect(
                "\(error!)".contains(
                    "not valid JSON (25 bytes, invalid JSON at byte 16: invalid UTF-16 escape \\udc00 in string (a low "
                        + "surrogate without its high half))"), "\(error!)")
        }
    }

    /// A list-valued query parameter: each id a parameter of its own (`?id=a&id=b`, or with
    /// brackets in the name), encoded once, answered by an object keyed by the ids sent.
    @Test(arguments: ["id", "id[]"])
    func repeatedQueryParametersCarryOneIDEach(parameter: String) async throws {
        let api = FixtureAPI(
            shape: .batchRepeated(path: "/v3/lookup", parameter: parameter),
            answers: ["a&b": .object(["title": "And"]), "9780140328721": .object(["title": "Fox"])])
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                """
                path: /v3/lookup
                id: isbn
                ids_param: "\(parameter)"
                ids_repeat: true
                match: object_keys
                """,
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(
                columns: ["book_id", "isbn"], rows: [["b1", "9780140328721"], ["b2", "nope"], ["b3", "a&b"]])
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.map { $0["book_id"] } == ["b1", "b3"])
            #expect(got[1]["response"]?["title"] == "And")
            #expect(harness.counters["requests"] == 1)
            #expect(server.stats().idsAsked == ["9780140328721", "nope", "a&b"])
        }
    }

    /// An API that answers an item "unavailable, ask again" inside a 200: `retry_when` makes
    /// the request a transient failure, asked again until the item comes, never an answer kept.
    @Test func itemsThePlanSaysToAskAgainForAreAskedAgain() async throws {
        var api = FixtureAPI(
            shape: .batchList(path: "/v1/lookup", bodyKey: "ids", resultsKey: "results"),
            answers: ["a": .object(["id": "a", "status": "ok"]), "b": .object(["id": "b", "status": "ok"])])
        api.unavailableFirst = ["b": 2]
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                Self.lookupFetch
                    + "\nitems_key: results\nretry_when: response.status == 'unavailable'\nbackoff: 0.01s\nretries: 3",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Batch(columns: ["v"], rows: [["a"], ["b"]])]))
            #expect(got.map { $0["response"]?["status"] } == ["ok", "ok"])
            #expect(harness.counters["retries"] == 2)
            #expect(server.stats().requests == 3)
        }
    }

    /// A batch whose URL is longer than the API's server takes (414) stops the fetch, saying to
    /// send fewer ids per request.
    @Test func aRequestTooLongForTheAPIsServerSaysToSendFewerIDs() async throws {
        var api = FixtureAPI(
            shape: .batchObject(path: "/api/books", parameter: "ids", separator: ","),
            answers: ["a": .object(["name": "a"])])
        api.maxTargetLength = 40
        try await Self.with(api) { _, origin in
            let stage = try Self.fetchStage(
                "path: /api/books\nid: name\nids_param: ids\nmatch: object_keys",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let input = Batch(columns: ["name"], rows: (1...12).map { [.string("book-\($0)")] })
            let error = await #expect(throws: FetchError.self) { try await harness.run(stage, input: [input]) }
            let said = error?.message ?? ""
            #expect(
                said.hasPrefix("the API answered HTTP 414 (HTML page: 414 Request-URI Too Large); not retried"),
                "\(said)")
            #expect(said.hasSuffix("lower the fetch's max_ids (and the chunk's size)"), "\(said)")
        }
    }

    /// A batch endpoint the API does not know stops the fetch with the status it answered: 410
    /// (an endpoint retired) is said and counted as 410, not as the 404 it was taken for.
    @Test(arguments: [404, 410])
    func aBatchEndpointTheAPIDoesNotKnowStopsWithItsStatus(status: Int) async throws {
        var api = FixtureAPI(
            shape: .batchObject(path: "/api/books", parameter: "ids", separator: ","),
            answers: ["a": .object(["name": "a"])])
        if status == 410 { api.gone = ["/api/books"] }
        try await Self.with(api) { _, origin in
            let stage = try Self.fetchStage(
                "path: \(status == 404 ? "/api/book" : "/api/books")\nid: name\nids_param: ids\nmatch: object_keys",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let input = Batch(columns: ["name"], rows: [["a"]])
            let error = await #expect(throws: FetchError.self) { try await harness.run(stage, input: [input]) }
            #expect(error?.status == status)
            #expect(error?.kind == .unexpectedStatus(status))
            #expect(error?.message.hasPrefix("the batch endpoint answered \(status): ") == true, "\(error!)")
        }
    }

    /// `é` as one code point and as `e` + an accent are two ids to an API and a table, one to
    /// Swift's `String`: they are never put in one request (an answer keyed by one would be
    /// taken for both), but asked in turn, each row matched with its own request's answer.
    @Test func idsSwiftTakesForOneAreAskedApart() async throws {
        let (composed, decomposed) = ("caf\u{e9}", "cafe\u{301}")
        let api = FixtureAPI(
            shape: .batchObject(path: "/api/books", parameter: "ids", separator: ","),
            answers: [composed: .object(["name": "composed"]), "tea": .object(["name": "tea"])])
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                "path: /api/books\nid: name\nids_param: ids\nmatch: object_keys",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let input = Batch(columns: ["name"], rows: [[.string(composed)], ["tea"], [.string(decomposed)]])
            _ = try await harness.run(stage, input: [input])
            #expect(harness.counters["requests"] == 2)
            let asked = server.stats().idsAsked
            #expect(asked.count == 3, "\(asked)")
            #expect(asked.contains { $0.unicodeScalars.elementsEqual(decomposed.unicodeScalars) }, "\(asked)")
        }
    }

    /// The same twins in two pieces of a per-item POST (its body keeps `é` as written, where a
    /// path percent-encodes it): the second is asked, not answered with the first's answer as
    /// a repeat of its request.
    @Test func twinsInLaterPiecesAreAskedThemselves() async throws {
        let (composed, decomposed) = ("caf\u{e9}", "cafe\u{301}")
        let api = FixtureAPI(shape: .itemBody(path: "/lookup", idKey: "name"), answers: [composed: .object(["n": 1])])
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                "path: /lookup\nmethod: POST\nbody: { name: \"{name}\" }", connection: "kind: http\nbase_url: \(origin)"
            )
            let harness = try await StageHarness(stage: stage)
            let input = [composed, decomposed].map { Batch(columns: ["name"], rows: [[.string($0)]]) }
            _ = try await harness.run(stage, input: input)
            let asked = server.stats().idsAsked
            #expect(asked.count == 2, "\(asked)")
            #expect(asked.contains { $0.unicodeScalars.elementsEqual(decomposed.unicodeScalars) }, "\(asked)")
        }
    }

    /// A resumed fetch reuses an answer only for the id it was given for: a twin of an answered
    /// id is asked.
    @Test func aResumeDoesNotReuseATwinsAnswer() async throws {
        let (composed, decomposed) = ("caf\u{e9}", "cafe\u{301}")
        let api = FixtureAPI(
            shape: .batchObject(path: "/api/books", parameter: "ids", separator: ","),
            answers: [composed: .object(["name": "composed"])])
        try await Self.with(api) { server, origin in
            let plan = (
                "path: /api/books\nid: name\nids_param: ids\nmatch: object_keys", "kind: http\nbase_url: \(origin)"
            )
            let first = try Self.fetchStage(plan.0, connection: plan.1)
            let firstRun = try await StageHarness(stage: first)
            _ = try await firstRun.run(first, input: [Batch(columns: ["name"], rows: [[.string(composed)]])])
            #expect(server.stats().idsAsked.count == 1)

            var second = try #require(try Self.fetchStage(plan.0, connection: plan.1) as? FetchStage)
            second.previousAnswers = firstRun.runDirectory.appendingPathComponent(
                FetchAnswers.fileName(stage: "fetch"))
            let secondRun = try await StageHarness(stage: second)
            let both = Batch(columns: ["name"], rows: [[.string(composed)], [.string(decomposed)]])
            _ = try await secondRun.run(second, input: [both])
            #expect(secondRun.counters["reused_answers"] == 1)
            let asked = server.stats().idsAsked.dropFirst()
            #expect(asked.count == 1, "\(asked)")
            #expect(asked.first?.unicodeScalars.elementsEqual(decomposed.unicodeScalars) == true, "\(asked)")
        }
    }

    /// An API keyed by prefixed ids asked without the prefix answers nothing for any id: the
    /// run says so, naming what to check, instead of only counting them not found.
    @Test func anAPIThatFindsNoIDSaysWhatToCheck() async throws {
        let api = FixtureAPI(
            shape: .batchObject(path: "/api/books", parameter: "bibkeys", separator: ","),
            answers: ["ISBN:0451526538": .object(["title": "Tom Sawyer"])])
        try await Self.with(api) { _, origin in
            let stage = try Self.fetchStage(
                "path: /api/books\nid: isbn\nids_param: bibkeys\nmatch: object_keys",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let got = rows(
                try await harness.run(
                    stage, input: [Batch(columns: ["isbn"], rows: [["0451526538"], ["9780140328721"]])]))
            #expect(got.isEmpty)
            #expect(
                harness.notices.contains {
                    $0.hasPrefix("fetch: the API found none of the 2 ids it was asked about: if it should know them")
                        && $0.contains("id_prefix")
                }, "\(harness.notices)")
        }
    }

    /// A vendor's batch lookup: POST with the ids in a JSON body, results in any order each
    /// naming its id, authenticated by an API key header or a bearer token; the plan's query
    /// goes with the POST as with a GET.
    @Test(arguments: [
        ("X-Api-Key", "k3y-123", "kind: api-key\n  header: X-Api-Key\n  key: \"${VENDOR_KEY}\""),
        ("Authorization", "Bearer k3y-123", "kind: bearer\n  token: \"${VENDOR_KEY}\""),
    ])
    func postedBatchesMatchResultsInAnyOrderByTheirIDField(header: String, value: String, auth: String) async throws {
        let known = (0..<8).map { "v\($0)" }
        var api = FixtureAPI(
            shape: .batchList(path: "/v1/lookup", bodyKey: "ids", resultsKey: "results"),
            answers: Dictionary(
                uniqueKeysWithValues: known.map {
                    ($0, Value.object(["id": .string($0), "score": .string("s-\($0)")]))
                }))
        api.requiredHeader = (header, value)
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                """
                path: /v1/lookup
                method: POST
                id: vendor_id
                body: { ids: "{ids}" }
                query: { market: US, fields: "id,score" }
                items_key: results
                match: { item_field: id }
                """,
                connection: "kind: http\nbase_url: \(origin)\nauth:\n  \(auth)", environment: ["VENDOR_KEY": "k3y-123"])
            let harness = try await StageHarness(stage: stage)
            let ids = known + ["nope"]
            let batch = Batch(columns: ["vendor_id"], rows: ids.map { [.string($0)] })
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.map { $0["vendor_id"] } == known.map { .string($0) })
            #expect(got.allSatisfy { $0["response"]?["score"] == .string("s-\($0["vendor_id"]!.text!)") })
            #expect(harness.counters["not_found"] == 1)
            #expect(harness.counters["requests"] == 1)
            #expect(server.stats().refused == 0)
            #expect(server.stats().seenURLs == ["/v1/lookup?fields=id%2Cscore&market=US"], "\(server.stats().seenURLs)")
        }
    }

    /// An API that takes fewer ids a request than `max_ids` refuses every full batch with 400
    /// though it knows each id: narrowing still gets every answer, and the run says why it asked
    /// more often and what to change.
    @Test func aBatchRefusedForItsSizeSaysToLowerMaxIDs() async throws {
        let known = (0..<8).map { "v\($0)" }
        var api = FixtureAPI(
            shape: .batchList(path: "/v1/lookup", bodyKey: "ids", resultsKey: "results"),
            answers: Dictionary(uniqueKeysWithValues: known.map { ($0, Value.object(["id": .string($0)])) }))
        api.maxIDs = 4
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                Self.lookupFetch + "\nitems_key: results\nmax_ids: 8", connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let got = rows(
                try await harness.run(stage, input: [Batch(columns: ["v"], rows: known.map { [.string($0)] })]))
            #expect(got.count == 8)
            #expect(server.stats().badRequests == 1)
            #expect(
                harness.notices.contains {
                    $0.contains("refused a whole batch of 8 ids (400: ids needs 1 to 4 string ids) but none of them")
                        && $0.hasSuffix("lower max_ids (now 8) to that limit.")
                }, "\(harness.notices)")
        }
    }

    /// A `match.item_field` no item has is the plan's mistake: the stage stops at the first
    /// answer (not retried), naming the keys the items do have, instead of finding nothing.
    @Test func anItemFieldNoItemHasStopsTheFetchNamingTheItemsKeys() async throws {
        let api = FixtureAPI(
            shape: .batchList(path: "/v1/lookup", bodyKey: "ids", resultsKey: "results"),
            answers: ["a": .object(["id": "a", "score": 1]), "b": .object(["id": "b", "score": 2])])
        try await Self.with(api) { server, origin in
            let fetch = Self.lookupFetch.replacingOccurrences(of: "item_field: id", with: "item_field: isbn")
            let stage = try Self.fetchStage(
                fetch + "\nitems_key: results", connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let error = await #expect(throws: (any Error).self) {
                try await harness.run(stage, input: [Batch(columns: ["v"], rows: [["a"], ["b"], ["c"]])])
            }
            let message = error.map { "\($0)" } ?? ""
            #expect(
                message.contains(
                    "none of the 2 items in the body's \"results\" has \"isbn\" (match.item_field); set "
                        + "match.item_field to the key holding each item's id (the items' keys: id, score)"),
                "\(message)")
            #expect(server.stats().requests == 1)
        }
    }

    /// An answer holding two different items for one id (here the item recorded for `b` names
    /// `a`): which is `a`'s is unknown, so `a` is rejected, saying so, rather than given the
    /// first; `b`, which no item names, is not found; nothing about `a` is kept for a resume.
    @Test func anIDTwoDifferentItemsNameIsRejectedNotGuessed() async throws {
        let api = FixtureAPI(
            shape: .batchList(path: "/v1/lookup", bodyKey: "ids", resultsKey: "results"),
            answers: [
                "a": .object(["id": "a", "n": 1]), "b": .object(["id": "a", "n": 2]),
                "c": .object(["id": "c", "n": 3]),
            ])
        try await Self.with(api) { _, origin in
            let stage = try Self.fetchStage(
                Self.lookupFetch + "\nitems_key: results", connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let got = rows(
                try await harness.run(stage, input: [Batch(columns: ["v"], rows: [["a"], ["b"], ["c"]])]))
            #expect(got.map { $0["v"] } == ["c"])
            #expect(harness.counters["found"] == 1)
            #expect(harness.counters["ambiguous"] == 1)
            #expect(harness.counters["not_found"] == 1)
            let rejects = try await FetchStageTests.rejects(harness)
            #expect(
                rejects.contains {
                    $0.hasPrefix(
                        "fetch,ambiguous_answer,fetch id (v),a,\"the API's answer holds 2 different items naming this id; which "
                            + "one is meant is unknown, so none is used: a later run asks again\",")
                }, "\(rejects)")
            let answers = try await text(
                of: harness.runDirectory.appendingPathComponent(FetchAnswers.fileName(stage: "fetch")))
            #expect(answers.contains(#""id":"c""#) && !answers.contains(#""id":"a""#), "\(answers)")
        }
    }

    /// An API that answers 200 with an error inside an item: `not_found_when` says which items
    /// mean "not found", so they are rejected (or kept, per `on_not_found`) instead of found.
    @Test func itemsThePlanSaysMeanNotFoundAreNotFound() async throws {
        let api = FixtureAPI(
            shape: .batchList(path: "/v1/lookup", bodyKey: "ids", resultsKey: "results"),
            answers: [
                "a": .object(["id": "a", "status": "ok", "n": 1]),
                "b": .object(["id": "b", "status": "error", "error": .object(["code": "NOT_FOUND"])]),
            ])
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                Self.lookupFetch + "\nitems_key: results\nnot_found_when: response.status == 'error'",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let got = rows(
                try await harness.run(stage, input: [Batch(columns: ["v"], rows: [["a"], ["b"], ["c"]])]))
            #expect(got.map { $0["v"] } == ["a"])
            #expect(harness.counters["found"] == 1)
            #expect(harness.counters["not_found"] == 2)
            let rejects = try await FetchStageTests.rejects(harness)
            // Each rejection says how the API said so.
            #expect(
                rejects.contains {
                    $0.hasPrefix(
                        "fetch,not_found,fetch id (v),b,the API does not know this id (its answer meets not_found_when: response.status == 'error'),"
                    )
                }, "\(rejects)")
            #expect(
                rejects.contains { $0.hasPrefix("fetch,not_found,fetch id (v),c,the API does not know this id,") },
                "\(rejects)")
        }
    }

    /// The rejects file's `field` names the fetch's id by its expression, apart from a field of
    /// the row that is called `id` too: `fetch id (v)` with the id sent, the row's own `id` in `row`.
    @Test func aRejectionNamesTheFetchIDApartFromTheRowsID() async throws {
        try await Self.with(Self.emptyLookup) { server, origin in
            let stage = try Self.fetchStage(
                Self.lookupFetch + "\nitems_key: results", connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            _ = try await harness.run(stage, input: [Batch(columns: ["id", "v"], rows: [[.int(7), "SKU7"]])])
            let rejects = try await FetchStageTests.rejects(harness)
            #expect(
                rejects == [
                    #"fetch,not_found,fetch id (v),SKU7,the API does not know this id,"{""id"":7,""v"":""SKU7""}""#
                ], "\(rejects)")
        }
    }

    /// A vendor's POST lookup that knows no ids, and the fetch stage asking it about column `v`.
    static let emptyLookup = FixtureAPI(
        shape: .batchList(path: "/v1/lookup", bodyKey: "ids", resultsKey: "results"), answers: [:])
    static let lookupFetch =
        "path: /v1/lookup\nmethod: POST\nid: v\nbody: { ids: \"{ids}\" }\nmatch: { item_field: id }"

    /// A wrong key stops the stage with what the API said, not a token story from OAuth; an API
    /// that repeats the key in its answer does not get it into the error.
    @Test func aRefusedKeyStopsTheStageNamingTheCredentials() async throws {
        var api = Self.emptyLookup
        api.requiredHeader = ("X-Api-Key", "right")
        api.echoesCredentials = true
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                Self.lookupFetch,
                connection:
                    "kind: http\nbase_url: \(origin)\nauth: { kind: api-key, header: X-Api-Key, key: wr0ng-k3y }")
            let harness = try await StageHarness(stage: stage)
            let error = await #expect(throws: (any Error).self) {
                try await harness.run(stage, input: [Batch(columns: ["v"], rows: [["a"]])])
            }
            #expect("\(error!)".contains("the API refused the connection's credentials (401"), "\(error!)")
            #expect("\(error!)".contains("you sent X-Api-Key: ***"), "\(error!)")
            #expect(!"\(error!)".contains("wr0ng"))
            #expect(server.stats().refused == 1)
        }
    }

    /// An API that refuses every id on its own (the request is wrong, not the ids) stops the fetch
    /// after a few, with its message, instead of asking about all of them one at a time.
    @Test func anAPIThatRefusesEveryIDStopsTheFetch() async throws {
        var api = Self.emptyLookup
        api.maxIDs = 0
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                Self.lookupFetch,
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let ids = (0..<50).map { Value.string("v\($0)") }
            let error = await #expect(throws: (any Error).self) {
                try await harness.run(stage, input: [Batch(columns: ["v"], rows: ids.map { [$0] })])
            }
            #expect("\(error!)".contains("the API refused each of the first 8 ids on its own (400: ids needs 1 to 0"))
            #expect(server.stats().requests < 40, "\(server.stats().requests) requests")
        }
    }

    /// Per item, an API answering 422 for every row stops the same way, saying 422: the status is
    /// the API's, not taken for a 400.
    @Test func anAPIThatFindsEveryRowUnprocessableStopsTheFetchSaying422() async throws {
        let streets = (0..<12).map { "\($0) Nowhere St" }
        var api = FixtureAPI(shape: .itemBody(path: "/geocode", idKey: "street"), answers: [:])
        api.unprocessable = Set(streets)
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                "path: /geocode\nmethod: POST\nbody: { street: \"{street}\" }",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(columns: ["street"], rows: streets.map { [.string($0)] })
            let error = await #expect(throws: (any Error).self) { try await harness.run(stage, input: [batch]) }
            #expect(
                "\(error!)".contains(
                    "the API refused each of the first 8 ids on its own (422: street 7 Nowhere St is not valid)"),
                "\(error!)")
            #expect(server.stats().requests == 8)
        }
    }

    /// A 400 that repeats the key: the narrowing's rejects say why without it.
    @Test func aBadRequestRepeatingTheKeyRejectsWithoutIt() async throws {
        var api = Self.emptyLookup
        api.requiredHeader = ("X-Api-Key", "s3cret-k3y")
        api.echoesCredentials = true
        api.maxIDs = 0
        try await Self.with(api) { _, origin in
            let stage = try Self.fetchStage(
                Self.lookupFetch,
                connection:
                    "kind: http\nbase_url: \(origin)\nauth: { kind: api-key, header: X-Api-Key, key: s3cret-k3y }")
            let harness = try await StageHarness(stage: stage)
            _ = try? await harness.run(stage, input: [Batch(columns: ["v"], rows: [["a"], ["b"]])])
            let rejects = try await text(of: try #require(harness.artifacts("rejects").first))
            #expect(rejects.contains("you sent X-Api-Key: ***"), "\(rejects)")
            for file in try await harness.files() {
                let written = try await text(of: harness.runDirectory.appendingPathComponent(file))
                #expect(!written.contains("s3cret"), "\(file)")
            }
            #expect(!harness.notices.contains { $0.contains("s3cret") })
        }
    }

    /// An API key in the query string reaches the API but no file the run writes.
    @Test func aQueryParameterKeyIsSentButNeverWritten() async throws {
        let api = FixtureAPI(shape: .perItem(pathPrefix: "/items/"), answers: ["a": .object(["ok": true])])
        try await Self.with(api) { server, origin in
            let stage = try Self.fetchStage(
                "path: /items/{code}",
                connection:
                    "kind: http\nbase_url: \(origin)\nauth: { kind: api-key, query_param: api_key, key: \"${K}\" }",
                environment: ["K": "s3cret-key-value"])
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Batch(columns: ["code"], rows: [["a"], ["b"]])]))
            #expect(got.count == 1)
            #expect(server.stats().seenURLs.allSatisfy { $0.contains("api_key=s3cret-key-value") })
            for file in try await harness.files() {
                let text =
                    (try? await text(of: harness.runDirectory.appendingPathComponent(file))) ?? ""
                #expect(!text.contains("s3cret"), "\(file) holds the key")
            }
        }
    }
}

/// A stage that does nothing: a context for the answers file's writer.
private struct KeepingStage: Stage {
    var name: String { "fetch" }
    var kind: String { "fetch" }
    var parameters: Value { .object([:]) }
    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {}
}
